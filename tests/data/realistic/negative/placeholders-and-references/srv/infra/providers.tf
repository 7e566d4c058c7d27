terraform {
  required_providers {
    scaleway = {
      source  = "scaleway/scaleway"
      version = "~> 2.47"
    }
  }
  required_version = ">= 1.5"
}

provider "scaleway" {
  access_key      = var.scw_access_key
  secret_key      = var.scw_secret_key
  project_id      = "2592c4d2-e261-4b32-8840-006ea9a91b28"
  organization_id = "1c7c6617-a119-4e93-8b85-a7819f83a723"
  zone            = "fr-par-1"
  region          = "fr-par"
}

variable "scw_access_key" {
  type      = string
  sensitive = true
}

variable "scw_secret_key" {
  type      = string
  sensitive = true
}
