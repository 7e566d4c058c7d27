#!/bin/sh
# One-off maintenance with the official CLI image.
docker run --rm -it \
  -e SCW_ACCESS_KEY=SCW4TVJATW2TREG6CNTA \
  -e SCW_SECRET_KEY=211b87ef-64c7-46d8-80ac-896bfcfda712 \
  -e SCW_DEFAULT_PROJECT_ID=16332372-a181-4603-b76f-f2422b8ff622 \
  scaleway/cli:v2.28.0 instance server list zone=fr-par-1
