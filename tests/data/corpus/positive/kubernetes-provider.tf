provider "kubernetes" {
  host                   = "https://f855a9ff-6b0b-48f2-acd7-0ad780b35860.api.k8s.fr-par.scw.cloud:6443"
  token                  = "XIiykkA2EqjhjGvqgxB37ZoQbixGJgo6t7wrtL3lDE4lraQ2TF2iF5Su"
  cluster_ca_certificate = base64decode(var.cluster_ca)
}

resource "kubernetes_namespace" "storefront" {
  metadata {
    name = "storefront"
  }
}
