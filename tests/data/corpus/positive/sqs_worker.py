import json

import boto3

sqs = boto3.client(
    "sqs",
    endpoint_url="https://sqs.mnq.fr-par.scaleway.com",
    region_name="fr-par",
    aws_access_key_id="sg9Ouq9btf0sS2FM9jSi",
    aws_secret_access_key="a1QUHqSUVbDgK2rUsmezxycqSf4QsCA2es81xbsJZWbsyDD9Lp5tDHCTvJNjC9Sb",
)
QUEUE_URL = "https://sqs.mnq.fr-par.scaleway.com/project-006c0aa2-afa7-4789-9f66-804543077615/thumbnails"


def main():
    while True:
        out = sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=20)
        for msg in out.get("Messages", []):
            job = json.loads(msg["Body"])
            print("processing", job["id"])
            sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=msg["ReceiptHandle"])


if __name__ == "__main__":
    main()
