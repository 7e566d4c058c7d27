packer {
  required_plugins {
    scaleway = {
      version = ">= 1.1.2"
      source  = "github.com/scaleway/scaleway"
    }
  }
}

source "scaleway" "base" {
  access_key      = "SCW6SFJPX2G3JST7CNGR"
  secret_key      = "06ce5f12-b96b-4746-8dff-a023baa0ccdc"
  project_id      = "61d1cde8-0432-4191-a8fe-234209223fb1"
  image           = "ubuntu_jammy"
  zone            = "fr-par-1"
  commercial_type = "DEV1-S"
  ssh_username    = "root"
  image_name      = "base-{{timestamp}}"
}

build {
  sources = ["source.scaleway.base"]
  provisioner "shell" {
    inline = ["apt-get update", "apt-get -y upgrade"]
  }
}
