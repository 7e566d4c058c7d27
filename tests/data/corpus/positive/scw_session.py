import requests

API = "https://api.scaleway.com"

session = requests.Session()
session.headers["X-Auth-Token"] = "192c4c98-084e-49c9-9116-a6d27c3d6e76"
session.headers["Content-Type"] = "application/json"


def list_buckets(region="fr-par"):
    r = session.get(f"{API}/object/v1/regions/{region}/buckets", timeout=10)
    r.raise_for_status()
    return r.json()
