import {
  to = scaleway_instance_server.web
  id = "fr-par-1/e9728c4e-79b2-4ed3-bb7d-672bb5fcd7c9"
}

import {
  to = scaleway_instance_server.worker
  id = "fr-par-2/0726d54c-9c19-44a6-855c-cd627c7c152d"
}

import {
  to = scaleway_vpc_private_network.main
  id = "fr-par/ec5f326b-79f3-4a28-9e3e-d43470b80830"
}

import {
  to = scaleway_rdb_instance.main
  id = "fr-par/a2153313-2421-40c7-8b9d-fdd12a2f9b78"
}

import {
  to = scaleway_k8s_cluster.prod
  id = "fr-par/310c8532-f1f3-4b5f-b517-08f198519e83"
}

import {
  to = scaleway_lb.front
  id = "fr-par-1/ca75a60b-ec78-48b5-9569-b29d8192946b"
}

import {
  to = scaleway_object_bucket.assets
  id = "fr-par/81750bec-aa38-4ae3-b759-8d77fa812d5e"
}

provider "scaleway" {
  access_key = var.scw_access_key
  secret_key = var.scw_secret_key
  project_id = "f8f55c59-c9b9-4132-800c-f5344c4075cf"
  region     = "fr-par"
  zone       = "fr-par-1"
}
