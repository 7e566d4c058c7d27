# Scaleway project 'storefront-prod': 38fb79a3-450b-4a8a-a949-763b0637165a
resource "scaleway_iam_application" "ci" {
  name            = "gitlab-ci"
  organization_id = "8718515b-5699-4297-a7c0-abc97fc8003a"
}

resource "scaleway_iam_policy" "ci_deploy" {
  name           = "ci-deploy"
  application_id = "1abae551-e007-42cb-9adf-b370ed2e3d7a"
  rule {
    project_ids          = ["38fb79a3-450b-4a8a-a949-763b0637165a"]
    permission_set_names = ["ContainerRegistryFullAccess", "KubernetesFullAccess"]
  }
}

resource "scaleway_iam_policy" "oncall" {
  name    = "oncall-readonly"
  user_id = "ce928379-6035-4e06-9639-1d8d754e352a"
  rule {
    organization_id      = "8718515b-5699-4297-a7c0-abc97fc8003a"
    permission_set_names = ["ProjectReadOnly"]
  }
}

data "scaleway_secret_version" "db" {
  secret_id = "c7b0d3e9-5b14-4083-8833-981b0b0a25ba"
  revision  = "latest"
}

resource "scaleway_instance_server" "bastion" {
  type              = "DEV1-S"
  image             = "0181cef5-0c53-436d-9aef-419e98e74338"
  security_group_id = "fr-par-1/739fac7a-de08-4c82-89c4-56a300ac6152"
}
