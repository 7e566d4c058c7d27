#!/usr/bin/env bash
set -euo pipefail
TAG="${1:-latest}"
REGISTRY=rg.fr-par.scw.cloud/acme-apps

echo "c68d044c-2ba7-4162-bee6-e99ca48ca9cd" | docker login "$REGISTRY" -u nologin --password-stdin
docker build -t "$REGISTRY/storefront:$TAG" .
docker push "$REGISTRY/storefront:$TAG"
