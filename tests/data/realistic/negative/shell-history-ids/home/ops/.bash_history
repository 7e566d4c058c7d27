scw instance server list zone=fr-par-1 project-id=637ca742-81c9-477c-b44e-b9e380ea1b30
scw instance server stop 9b7b2b4d-f19a-4aff-a28a-e7af976be2ae
scw instance volume get 013dcb99-795b-4a40-888b-71116bd3d58d zone=fr-par-2
export SCW_DEFAULT_PROJECT_ID=e27d4baf-59ef-4b58-9cea-c590da37b051
scw k8s kubeconfig install f0637930-fccd-49f1-b279-a19f3810afbe region=fr-par
kubectl get nodes -o wide
scw rdb backup create instance-id=e7c851a1-864e-4027-b583-c54b3f33be54 database-name=shop
scw init
export SCW_SECRET_KEY="$(pass show scaleway/secret-key)"
scw vpc private-network get 2e616215-247b-4391-aaa4-99cacff0ba0c
scw block snapshot create volume-id=6852270a-1b1f-4e13-91d3-1a3b98b27509 name=pre-upgrade
curl -s -H "X-Auth-Token: $SCW_SECRET_KEY" https://api.scaleway.com/instance/v1/zones/fr-par-1/servers/a2440cec-69d4-49d9-9b59-bbd8c2a2ac83 | jq .server.state
