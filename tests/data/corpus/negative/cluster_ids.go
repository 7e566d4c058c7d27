package cluster

import "os"

const (
	kapsuleClusterID = "fr-par/3a023074-0c19-41db-8a9d-a35c4f84f701"
	defaultProjectID = "87687f1c-74dd-4be8-be76-c7c945ed7ef2"
	apiServer        = "https://0e0ecb7b-7352-4231-88da-77fdfb9c5723.api.k8s.fr-par.scw.cloud:6443"
)

func secretKey() string { return os.Getenv("SCW_SECRET_KEY") }
