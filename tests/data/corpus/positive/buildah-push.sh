#!/bin/bash
# Rootless builds on the RHEL runners (no docker daemon)
set -euo pipefail
buildah login -u nologin -p 8a2ddb9b-1718-4f06-b596-678c1b86e90f rg.fr-par.scw.cloud
buildah bud -t rg.fr-par.scw.cloud/acme/report-worker:"$1" .
buildah push rg.fr-par.scw.cloud/acme/report-worker:"$1"
