#!/bin/sh
set -eu
# secrets come from Infisical; Scaleway keys are fetched at runtime
export INFISICAL_TOKEN=st.130f3990-229a-4f34-b891-00fe35933f42.a39c76139c7c7484e1e1f069610671dc.88a77b3fb56306bfd8a9a3553f5c6209
export INFISICAL_API_URL=https://eu.infisical.com/api

infisical run --env=prod --path=/scaleway -- \
  scw container deploy name=api namespace-id=feffa7af-1f0f-4526-a48c-32cc1e439de0 region=fr-par
