#!/bin/sh
set -eu
for img in nginx:1.27-alpine redis:7.2-alpine; do
  skopeo copy --all \
    --dest-creds nologin:084c8ecd-2f6d-44fe-b5a5-0c52c012f6a1 \
    docker://docker.io/library/$img \
    docker://rg.fr-par.scw.cloud/mirror/$img
done
