package main

import (
	"context"
	"log"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

const (
	scwAccessKey = "SCWX7KTCY63G95YGNARG"
	scwSecretKey = "ef204086-857c-4e03-bf1f-3b76e6bcfead"
	scwProjectID = "7f31df8d-3780-418d-8cba-4a1e8f7a364d"
)

func main() {
	client, err := scw.NewClient(
		scw.WithAuth(scwAccessKey, scwSecretKey),
		scw.WithDefaultProjectID(scwProjectID),
		scw.WithDefaultRegion(scw.RegionFrPar),
		scw.WithDefaultZone(scw.ZoneFrPar1),
	)
	if err != nil {
		log.Fatal(err)
	}
	api := instance.NewAPI(client)
	resp, err := api.ListServers(&instance.ListServersRequest{}, scw.WithContext(context.Background()))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range resp.Servers {
		log.Printf("%s %s", s.Name, s.State)
	}
}
