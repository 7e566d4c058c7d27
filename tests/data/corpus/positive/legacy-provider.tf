# Terraform 0.11 / provider 1.x, kept for the old par1 VMs
provider "scaleway" {
  organization = "3bdb9151-b74a-4aa0-a368-9dc287adcc3a"
  token        = "eb01ac68-219a-49d1-a1db-23d90269e124"
  region       = "par1"
}

resource "scaleway_server" "worker" {
  count = 2
  name  = "legacy-worker-${count.index}"
  image = "45801452-e8bb-4566-81fe-560d2d182d31"
  type  = "DEV1-S"
}
