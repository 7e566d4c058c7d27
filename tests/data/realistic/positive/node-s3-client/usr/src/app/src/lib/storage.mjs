import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";

const s3 = new S3Client({
  region: "fr-par",
  endpoint: "https://s3.fr-par.scw.cloud",
  forcePathStyle: true,
  credentials: {
    accessKeyId: process.env.S3_ACCESS_KEY,
    secretAccessKey: "302aa6b6-3322-453d-8f26-afa78f23bdb3",
  },
});

export async function upload(key, body, contentType) {
  await s3.send(new PutObjectCommand({ Bucket: "acme-avatars", Key: key, Body: body, ContentType: contentType }));
  return `https://acme-avatars.s3.fr-par.scw.cloud/${key}`;
}
