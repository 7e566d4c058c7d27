package storage

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	endpoint = "s3.fr-par.scw.cloud"
	bucket   = "uploader-prod"
)

// New returns a MinIO client pointed at Scaleway Object Storage.
func New(ctx context.Context) (*minio.Client, error) {
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4("SCWH3KZZVQJ87D9W4JCV", "1b8f1f68-bd9b-44b1-a9ea-dcf05c382598", ""),
		Secure: true,
		Region: "fr-par",
	})
	if err != nil {
		return nil, fmt.Errorf("minio client: %w", err)
	}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil || !ok {
		return nil, fmt.Errorf("bucket %s: %v", bucket, err)
	}
	return client, nil
}
