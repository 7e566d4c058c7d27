package scwutil@v0.3.1

import (
	"testing"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/stretchr/testify/require"
)

const testProjectID = "f8d44566-20f6-4da8-bcca-59e6d326f918"

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SCW_ACCESS_KEY", "SCW2XZV94V65SJ61BZZJ")
	t.Setenv("SCW_SECRET_KEY", "f8d44566-20f6-4da8-bcca-59e6d326f918")
	t.Setenv("SCW_DEFAULT_PROJECT_ID", testProjectID)
	t.Setenv("SCW_DEFAULT_ORGANIZATION_ID", "c9b880fa-91ae-4f95-91ee-60c618c28bba")

	cfg, err := loadConfig()
	require.NoError(t, err)
	require.Equal(t, "SCW2XZV94V65SJ61BZZJ", cfg.AccessKey)
	require.Equal(t, testProjectID, cfg.ProjectID)
}

func newTestClient(t *testing.T) *scw.Client {
	t.Helper()
	client, err := scw.NewClient(
		scw.WithAuth("SCW2XZV94V65SJ61BZZJ", "f8d44566-20f6-4da8-bcca-59e6d326f918"),
		scw.WithDefaultProjectID(testProjectID),
		scw.WithDefaultRegion(scw.RegionFrPar),
		scw.WithUserAgent("exporter-test"),
	)
	require.NoError(t, err)
	return client
}
