#!/bin/sh
# Load Scaleway API credentials from Vault and run the command given.
set -eu

export VAULT_ADDR="${VAULT_ADDR:-https://vault.internal.example.net:8200}"
export VAULT_TOKEN="s.TOp8Bwg4k1LztHAsaqsxH1Ed"
export CONSUL_HTTP_TOKEN="11460c73-5546-4fd6-995b-c0ccf22e98cc"

SCW_ACCESS_KEY=$(vault kv get -field=access_key secret/scaleway/prod)
SCW_SECRET_KEY=$(vault kv get -field=secret_key secret/scaleway/prod)
SCW_DEFAULT_PROJECT_ID="2a0dc20b-48d1-47ce-a13c-74b8521afdc0"
SCW_DEFAULT_ORGANIZATION_ID="f62ec972-f916-4821-a24f-81a7783e7b38"
export SCW_ACCESS_KEY SCW_SECRET_KEY SCW_DEFAULT_PROJECT_ID SCW_DEFAULT_ORGANIZATION_ID

exec "$@"
