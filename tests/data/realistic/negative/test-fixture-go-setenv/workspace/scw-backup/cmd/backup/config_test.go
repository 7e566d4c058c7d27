package backup

import (
	"testing"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/stretchr/testify/require"
)

const testProjectID = "cb9e5fb9-072c-479c-8be1-3b90464942f8"

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SCW_ACCESS_KEY", "SCWV82V81YRWXK3FHF5F")
	t.Setenv("SCW_SECRET_KEY", "cb9e5fb9-072c-479c-8be1-3b90464942f8")
	t.Setenv("SCW_DEFAULT_PROJECT_ID", testProjectID)
	t.Setenv("SCW_DEFAULT_ORGANIZATION_ID", "2387d20a-b234-4851-b4c2-9de9a2dec1bf")

	cfg, err := loadConfig()
	require.NoError(t, err)
	require.Equal(t, "SCWV82V81YRWXK3FHF5F", cfg.AccessKey)
	require.Equal(t, testProjectID, cfg.ProjectID)
}

func newTestClient(t *testing.T) *scw.Client {
	t.Helper()
	client, err := scw.NewClient(
		scw.WithAuth("SCWV82V81YRWXK3FHF5F", "cb9e5fb9-072c-479c-8be1-3b90464942f8"),
		scw.WithDefaultProjectID(testProjectID),
		scw.WithDefaultRegion(scw.RegionFrPar),
		scw.WithUserAgent("exporter-test"),
	)
	require.NoError(t, err)
	return client
}
