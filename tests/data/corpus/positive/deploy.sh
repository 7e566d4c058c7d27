#!/usr/bin/env bash
# Deploy the storefront stack to Kapsule.
set -euo pipefail

export SCW_ACCESS_KEY="SCW75BPTBJNXR67GRYJW"
export SCW_SECRET_KEY="559e0779-e228-4e41-b8c4-0d5fb9802a29"
export SCW_DEFAULT_PROJECT_ID="17b43156-9325-45cd-b3c0-af7d2d0b8b65"
export SCW_DEFAULT_REGION="fr-par"

REGISTRY="rg.fr-par.scw.cloud/acme"
TAG="${1:-$(git rev-parse --short HEAD)}"

echo "$SCW_SECRET_KEY" | docker login "$REGISTRY" -u nologin --password-stdin
docker build -t "$REGISTRY/storefront-api:$TAG" .
docker push "$REGISTRY/storefront-api:$TAG"

scw k8s kubeconfig install "$(terraform -chdir=infra output -raw cluster_id)"
kubectl -n storefront set image deployment/storefront-api api="$REGISTRY/storefront-api:$TAG"
kubectl -n storefront rollout status deployment/storefront-api --timeout=180s
