package scw_test

import (
	"github.com/scaleway/scaleway-sdk-go/scw"
)

func Example_apiClient() {
	// Create a Scaleway client
	client, err := scw.NewClient(
		scw.WithAuth("SCWXXXXXXXXXXXXXXXXX", "11111111-1111-1111-1111-111111111111"), // Get your credentials at https://console.scaleway.com/iam/api-keys
		scw.WithDefaultOrganizationID("11111111-1111-1111-1111-111111111111"),
		scw.WithDefaultZone(scw.ZoneFrPar1),
	)
	if err != nil {
		panic(err)
	}
	_ = client
}
