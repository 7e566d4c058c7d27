#!/bin/sh
set -eu
docker login harbor.acme.internal -u 'robot$ci' -p 3a0e1c4a-cb76-4d6b-91c5-edc254281691
docker tag storefront-api:latest harbor.acme.internal/shop/storefront-api:latest
docker push harbor.acme.internal/shop/storefront-api:latest
