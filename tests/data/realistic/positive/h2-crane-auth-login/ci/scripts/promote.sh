#!/usr/bin/env bash
set -euo pipefail
crane auth login rg.fr-par.scw.cloud -u nologin -p 2d748c21-67ae-47e6-bf9b-ef7c43d2d36b
crane copy rg.fr-par.scw.cloud/acme-staging/api:"$TAG" rg.fr-par.scw.cloud/acme-prod/api:"$TAG"
