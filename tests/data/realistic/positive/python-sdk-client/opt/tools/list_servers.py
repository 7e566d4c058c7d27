from scaleway import Client
from scaleway.instance.v1 import InstanceV1API

client = Client(
    access_key="SCWR6BB3S7EGV6HA0VWY",
    secret_key="d8de93a7-75d2-4d1f-90cc-4a0dd33cc8b4",
    default_project_id="6ff522af-71aa-4d74-9469-b56358eab7eb",
    default_region="fr-par",
    default_zone="fr-par-1",
)
api = InstanceV1API(client)

for server in api.list_servers_all():
    print(server.name, server.state)
