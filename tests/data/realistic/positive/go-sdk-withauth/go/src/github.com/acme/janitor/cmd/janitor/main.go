package main

import (
	"log"

	instance "github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

func main() {
	client, err := scw.NewClient(
		scw.WithDefaultOrganizationID("1ee7a514-1e7a-4797-88d9-3ede8a3ed578"),
		scw.WithAuth("SCWT04VD4G1Y8ZKCW5SE", "71f10827-16c8-42d9-92e2-b1e1dea07dec"),
		scw.WithDefaultZone(scw.ZoneFrPar1),
	)
	if err != nil {
		log.Fatal(err)
	}
	api := instance.NewAPI(client)
	resp, err := api.ListServers(&instance.ListServersRequest{})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range resp.Servers {
		if s.State == instance.ServerStateStopped {
			log.Printf("deleting stopped server %s", s.Name)
			_ = api.DeleteServer(&instance.DeleteServerRequest{ServerID: s.ID})
		}
	}
}
