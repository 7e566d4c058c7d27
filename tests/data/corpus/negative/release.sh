#!/usr/bin/env bash
set -euo pipefail
: "${SCW_SECRET_KEY:?SCW_SECRET_KEY must be set}"
REGISTRY=rg.fr-par.scw.cloud/acme
docker login "$REGISTRY" -u nologin --password-stdin <<< "$SCW_SECRET_KEY"
curl -sf -H "X-Auth-Token: $SCW_SECRET_KEY" \
  "https://api.scaleway.com/registry/v1/regions/fr-par/namespaces?project_id=c23a30aa-2e26-4dcf-be7e-6ed65184edd6" | jq .
