import os

import requests

API = "https://api.scaleway.com/instance/v1/zones/fr-par-1"
PROJECT_ID = "15324100-1e01-492c-8a95-92dd23c19e2f"
ORGANIZATION_ID = "a00974f3-4c53-49e0-94f3-5aaf7b17a593"
bastion_server_id = "6602946c-c576-4a3d-88e8-c99538550e70"


def servers():
    headers = {"X-Auth-Token": os.environ["SCW_SECRET_KEY"]}
    r = requests.get(f"{API}/servers", params={"project": PROJECT_ID}, headers=headers, timeout=10)
    r.raise_for_status()
    return r.json()["servers"]
