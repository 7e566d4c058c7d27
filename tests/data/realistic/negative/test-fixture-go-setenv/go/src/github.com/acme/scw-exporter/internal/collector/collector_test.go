package collector

import (
	"testing"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/stretchr/testify/require"
)

const testProjectID = "5d56776b-fd27-46ca-b5f9-6dee3f7ad2c1"

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("SCW_ACCESS_KEY", "SCW424T7CA6K4EAPQZ0B")
	t.Setenv("SCW_SECRET_KEY", "5d56776b-fd27-46ca-b5f9-6dee3f7ad2c1")
	t.Setenv("SCW_DEFAULT_PROJECT_ID", testProjectID)
	t.Setenv("SCW_DEFAULT_ORGANIZATION_ID", "050ca770-c728-4ba1-b280-986a68962d0e")

	cfg, err := loadConfig()
	require.NoError(t, err)
	require.Equal(t, "SCW424T7CA6K4EAPQZ0B", cfg.AccessKey)
	require.Equal(t, testProjectID, cfg.ProjectID)
}

func newTestClient(t *testing.T) *scw.Client {
	t.Helper()
	client, err := scw.NewClient(
		scw.WithAuth("SCW424T7CA6K4EAPQZ0B", "5d56776b-fd27-46ca-b5f9-6dee3f7ad2c1"),
		scw.WithDefaultProjectID(testProjectID),
		scw.WithDefaultRegion(scw.RegionFrPar),
		scw.WithUserAgent("exporter-test"),
	)
	require.NoError(t, err)
	return client
}
