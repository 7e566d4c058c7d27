#!/usr/bin/env bash
# Move the worker from Heroku to a Scaleway instance managed by Nomad
set -euo pipefail

export HEROKU_API_KEY=ee7a293f-dd45-4345-82e0-360044b009cf
export CONSUL_HTTP_ADDR=https://consul.internal:8501
export CONSUL_HTTP_TOKEN=3cf2cb80-1606-4287-a0f8-07dbd0d698f7
export NOMAD_ADDR=https://nomad.internal:4646
export NOMAD_TOKEN=08d497c2-b1f3-44df-bac8-33926a9c4b74

heroku pg:backups:capture --app legacy-worker
curl -fsSL "$(heroku pg:backups:url --app legacy-worker)" -o /tmp/latest.dump

scw instance server list zone=fr-par-2 project-id=cc498800-c547-44a3-a880-87b3cf54be62 -o json > /tmp/servers.json
scw rdb backup create instance-id=eb20b848-e739-4a44-a183-0aea40bc9372 database-name=worker name=pre-migration region=fr-par

nomad job run jobs/worker.nomad.hcl
consul kv put config/worker/migrated "$(date -u +%FT%TZ)"
