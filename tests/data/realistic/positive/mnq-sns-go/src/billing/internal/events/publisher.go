package events

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

const topicARN = "arn:scw:sns:fr-par:project-0ce6be09-9661-4b7b-bca6-28e1b85d0455:invoices"

func NewPublisher() *sns.Client {
	cfg := aws.Config{
		Region:      "fr-par",
		Credentials: credentials.NewStaticCredentialsProvider("qNP04ps4koCCl0wCPkX1", "QElWcH2lu6G3shhqkCs393wovv6065BL6h1LePZ6rXUOfzqzRMwirj6ni3L3wL00", ""),
	}
	return sns.NewFromConfig(cfg, func(o *sns.Options) {
		o.BaseEndpoint = aws.String("https://sns.mnq.fr-par.scaleway.com")
	})
}

func Publish(ctx context.Context, c *sns.Client, msg string) error {
	_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(msg)})
	return err
}
