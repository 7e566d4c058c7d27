scw instance server list zone=fr-par-1 project-id=1943ae83-a3e3-4bdc-9b50-426f1c1f925c
scw instance server stop e0080ec5-9c6a-43da-8286-995b29d6817e
scw instance volume get ac9c68cd-b613-4635-865c-e67c16ba4d82 zone=fr-par-2
export SCW_DEFAULT_PROJECT_ID=2b39afde-08c5-4ed3-b4be-998fd4e472b3
scw k8s kubeconfig install 247ba036-339b-4302-aa12-b7727a2192be region=fr-par
kubectl get nodes -o wide
scw rdb backup create instance-id=31c0d05b-4e0d-49e9-be54-6bc98c8f3156 database-name=shop
scw init
export SCW_SECRET_KEY="$(pass show scaleway/secret-key)"
scw vpc private-network get fb582db7-cb80-4ab0-8592-d6947b1a02a9
scw block snapshot create volume-id=42966f06-1f0f-4b28-9265-8a9ebcab5387 name=pre-upgrade
curl -s -H "X-Auth-Token: $SCW_SECRET_KEY" https://api.scaleway.com/instance/v1/zones/fr-par-1/servers/16fadf4a-e101-40f4-af66-640273dd5b16 | jq .server.state
