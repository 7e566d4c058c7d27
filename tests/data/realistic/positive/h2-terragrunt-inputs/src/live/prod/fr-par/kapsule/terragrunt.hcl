include "root" {
  path = find_in_parent_folders()
}

terraform {
  source = "git::https://gitlab.acme.io/infra/modules.git//kapsule?ref=v2.4.0"
}

dependency "vpc" {
  config_path = "../vpc"
  mock_outputs = {
    private_network_id = "fr-par/fe0e3524-3c6f-44a7-9cc2-09e80cc1118a"
  }
}

inputs = {
  cluster_name        = "prod-fr-par"
  private_network_id  = dependency.vpc.outputs.private_network_id
  project_id          = "a50eaa1f-23d3-4005-98d3-2d57cec77e98"
  scaleway_secret_key = "2da68f17-00cf-4d34-ab63-a97b92dff937"
  region              = "fr-par"
  pools = {
    default = { node_type = "PRO2-S", size = 3 }
  }
}
