#!/usr/bin/env bash
# List instances in every zone of fr-par and print name, state and public IP.
set -euo pipefail
AUTH_HEADER="X-Auth-Token: 15393c29-7e8c-413e-b9ff-05415b420c54"
for zone in fr-par-1 fr-par-2 fr-par-3; do
  curl -sf -H "$AUTH_HEADER" \
    "https://api.scaleway.com/instance/v1/zones/${zone}/servers?per_page=100" |
    jq -r '.servers[] | [.name, .state, (.public_ip.address // "-")] | @tsv'
done
