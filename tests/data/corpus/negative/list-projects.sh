#!/usr/bin/env bash
set -euo pipefail
ORG_ID="09e060cb-1b82-4c92-a3f2-017b675c448c"
curl -sf -H "X-Auth-Token: ${SCW_SECRET_KEY}" \
  "https://api.scaleway.com/account/v3/projects?organization_id=${ORG_ID}&page_size=100" |
  jq -r '.projects[] | "\(.id) \(.name)"'
