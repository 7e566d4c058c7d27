import { SNSClient, PublishCommand } from '@aws-sdk/client-sns'

const sns = new SNSClient({
  region: 'fr-par',
  endpoint: 'https://sns.mnq.fr-par.scaleway.com',
  credentials: {
    accessKeyId: 'QNHPC1guRCo1Hd6z3pVn',
    secretAccessKey: 'LXvzzce2ry4ZNYTG15LCeEyvepcoxeOdooXhzEswak4paJQc0xUri2KwNwO3K1X5',
  },
})

export async function publishOrderCreated(orderId: string): Promise<void> {
  await sns.send(new PublishCommand({
    TopicArn: 'arn:scw:sns:fr-par:project-e02bf0ec-ca17-48c2-9d62-9523735f506f:order-events',
    Message: JSON.stringify({ type: 'order.created', orderId }),
  }))
}
