package main

import (
	"fmt"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

func main() {
	// Replace with your own credentials, see https://www.scaleway.com/en/docs/iam/how-to/create-api-keys/
	client, err := scw.NewClient(
		scw.WithDefaultOrganizationID("11111111-1111-1111-1111-111111111111"),
		scw.WithAuth("SCWXXXXXXXXXXXXXXXXX", "11111111-1111-1111-1111-111111111111"),
		scw.WithDefaultRegion(scw.RegionFrPar),
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(client != nil)
}
