ls -la
curl -s -H "X-Auth-Token: 61327286-e2da-43cf-9933-795ec2281596" https://api.scaleway.com/instance/v1/zones/fr-par-1/servers | jq '.servers[].name'
curl -s -X POST -H "X-Auth-Token: 61327286-e2da-43cf-9933-795ec2281596" -H "Content-Type: application/json" https://api.scaleway.com/instance/v1/zones/fr-par-1/servers/f14b0dc9-b2b9-4f5b-b010-6c540e54a681/action -d '{"action":"reboot"}'
history | tail
