#!/bin/sh
set -e
kubectl -n storefront create secret generic scw-credentials \
  --from-literal=access-key=SCW046CGCBRG5G12BVH7 \
  --from-literal=secret-key=b6788e13-a137-464d-8bb1-5822c357c0a0 \
  --dry-run=client -o yaml | kubectl apply -f -
