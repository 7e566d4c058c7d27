#!/bin/sh
# Load Scaleway API credentials from Vault and run the command given.
set -eu

export VAULT_ADDR="${VAULT_ADDR:-https://vault.internal.example.net:8200}"
export VAULT_TOKEN="hvs.KFHAd7PTM12ACPUNJlg6KZ5x"
export CONSUL_HTTP_TOKEN="bd6a2c8d-0c45-40b7-83ce-8c2699d4897a"

SCW_ACCESS_KEY=$(vault kv get -field=access_key secret/scaleway/prod)
SCW_SECRET_KEY=$(vault kv get -field=secret_key secret/scaleway/prod)
SCW_DEFAULT_PROJECT_ID="80182eaf-4a88-46e5-a65b-496fcbb9460d"
SCW_DEFAULT_ORGANIZATION_ID="4f7a0e57-d34a-4c8e-87d7-ec187245d4eb"
export SCW_ACCESS_KEY SCW_SECRET_KEY SCW_DEFAULT_PROJECT_ID SCW_DEFAULT_ORGANIZATION_ID

exec "$@"
