terraform {
  required_providers {
    scaleway = {
      source  = "scaleway/scaleway"
      version = "~> 2.40"
    }
  }
  required_version = ">= 1.5"
}

provider "scaleway" {
  access_key = "SCW4KMT6JDC5ZMREGZA9"
  secret_key = "d227694a-6da3-443c-8226-7a271f4fad9f"
  project_id = "a7db1ea4-187b-4e20-9e6d-ed01c0c6dbb3"
  zone       = "fr-par-1"
  region     = "fr-par"
}

resource "scaleway_vpc_private_network" "main" {
  name = "storefront-pn"
}

resource "scaleway_k8s_cluster" "prod" {
  name                        = "k8s-prod-storefront"
  version                     = "1.29.1"
  cni                         = "cilium"
  private_network_id          = scaleway_vpc_private_network.main.id
  delete_additional_resources = false
}

resource "scaleway_k8s_pool" "default" {
  cluster_id = scaleway_k8s_cluster.prod.id
  name       = "default"
  node_type  = "PRO2-S"
  size       = 3
}
