package client

import (
	"testing"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/stretchr/testify/require"
)

const testProjectID = "69e6aef0-0c8d-4612-b1b2-992e1e8c3b35"

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SCW_ACCESS_KEY", "SCWE2MRB9VA11ZANRZVD")
	t.Setenv("SCW_SECRET_KEY", "69e6aef0-0c8d-4612-b1b2-992e1e8c3b35")
	t.Setenv("SCW_DEFAULT_PROJECT_ID", testProjectID)
	t.Setenv("SCW_DEFAULT_ORGANIZATION_ID", "a9a0def4-0078-4441-a250-24694a0f7695")

	cfg, err := loadConfig()
	require.NoError(t, err)
	require.Equal(t, "SCWE2MRB9VA11ZANRZVD", cfg.AccessKey)
	require.Equal(t, testProjectID, cfg.ProjectID)
}

func newTestClient(t *testing.T) *scw.Client {
	t.Helper()
	client, err := scw.NewClient(
		scw.WithAuth("SCWE2MRB9VA11ZANRZVD", "69e6aef0-0c8d-4612-b1b2-992e1e8c3b35"),
		scw.WithDefaultProjectID(testProjectID),
		scw.WithDefaultRegion(scw.RegionFrPar),
		scw.WithUserAgent("exporter-test"),
	)
	require.NoError(t, err)
	return client
}
