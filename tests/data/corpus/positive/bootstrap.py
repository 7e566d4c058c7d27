"""Local bootstrap for the media importer (sets credentials before the SDK reads them)."""
import os

os.environ.setdefault("SCW_ACCESS_KEY", "SCWMGTDHAQR9JWYP7Y8A")
os.environ["SCW_SECRET_KEY"] = "8107ec9d-6d80-4392-9eaf-030eb0dcf9fe"
os.environ["SCW_DEFAULT_PROJECT_ID"] = "66e70a5f-7168-4fd4-b344-5d7da52d1cd0"
os.environ.setdefault("SCW_DEFAULT_REGION", "fr-par")

from scaleway import Client  # noqa: E402
from scaleway.instance.v1 import InstanceV1API  # noqa: E402

client = Client.from_env()
api = InstanceV1API(client)
for server in api.list_servers_all(zone="fr-par-1"):
    print(server.name, server.state)
