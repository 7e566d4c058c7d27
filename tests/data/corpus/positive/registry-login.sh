#!/bin/sh
# Log the build host in to the team namespace of the container registry.
set -e
NAMESPACE=team-data
docker login rg.nl-ams.scw.cloud/$NAMESPACE -u nologin -p 2ba402c4-0601-4d40-b1c1-97ec49457d66
docker pull rg.nl-ams.scw.cloud/$NAMESPACE/etl-runner:latest
