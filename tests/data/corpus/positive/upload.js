const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3')

const s3 = new S3Client({
  region: 'fr-par',
  endpoint: 'https://s3.fr-par.scw.cloud',
  forcePathStyle: false,
  credentials: {
    accessKeyId: 'SCWFZKYQHQ4C4QXNHVZT',
    secretAccessKey: 'b84bc241-237f-4588-b80d-512976154de1',
  },
})

async function upload(key, body, contentType) {
  await s3.send(new PutObjectCommand({ Bucket: 'storefront-media', Key: key, Body: body, ContentType: contentType }))
  return `https://storefront-media.s3.fr-par.scw.cloud/${key}`
}

module.exports = { upload }
