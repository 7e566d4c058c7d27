scw instance server list zone=fr-par-1 project-id=1bf2c17e-7c2d-48d0-b437-94d186576501
scw instance server stop 83ff8d44-fea8-4db5-a1cd-8f55b95ebfee
scw instance volume get 5292762b-8321-4f14-abdc-d0d31eee0faa zone=fr-par-2
export SCW_DEFAULT_PROJECT_ID=8cd51d12-4a57-4ea8-8b16-7b95820d931e
scw k8s kubeconfig install 1447457c-3f37-4156-b122-a1917c4b233f region=fr-par
kubectl get nodes -o wide
scw rdb backup create instance-id=8625fdfe-4556-4322-9f7a-ac519b87aa75 database-name=shop
scw init
export SCW_SECRET_KEY="$(pass show scaleway/secret-key)"
scw vpc private-network get 1c8e7325-2517-4d2d-afa4-d65cd8d0c9fe
scw block snapshot create volume-id=f042ca56-d227-40bd-82a5-89e3f8aa31ae name=pre-upgrade
curl -s -H "X-Auth-Token: $SCW_SECRET_KEY" https://api.scaleway.com/instance/v1/zones/fr-par-1/servers/afe3fbdb-36ca-4fb9-bf98-4064b13090bf | jq .server.state
