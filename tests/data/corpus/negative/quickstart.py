from scaleway import Client

# Documentation values: replace before running.
client = Client(
    access_key="SCWXXXXXXXXXXXXXXXXX",
    secret_key="00000000-0000-0000-0000-000000000000",
    default_project_id="11111111-1111-1111-1111-111111111111",
    default_region="fr-par",
    default_zone="fr-par-1",
)
