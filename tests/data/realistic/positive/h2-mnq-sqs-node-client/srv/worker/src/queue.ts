import { SQSClient, ReceiveMessageCommand } from "@aws-sdk/client-sqs";

export const sqs = new SQSClient({
  region: "fr-par",
  endpoint: "https://sqs.mnq.fr-par.scaleway.com",
  credentials: {
    accessKeyId: "p7WCsY684gGqHRGMLhlA",
    secretAccessKey: "vF7Mmfx5yiK3WWjB3ST60Bd7eUEKV6jtopCCJkV5Q0MQouswCkVErV8uL6yq4mFm",
  },
});

export const receive = (QueueUrl: string) =>
  sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 }));
