job "thumbnailer" {
  datacenters = ["fr-par-1"]
  type        = "service"

  group "workers" {
    count = 2

    task "worker" {
      driver = "docker"

      config {
        image = "rg.fr-par.scw.cloud/acme/thumbnailer:2.3.1"
      }

      env {
        SCW_ACCESS_KEY     = "SCWR7JAEJKP16NP1G8QH"
        SCW_SECRET_KEY     = "c8bbd9bb-91ed-46eb-9119-74bfd244a2b5"
        SCW_DEFAULT_REGION = "fr-par"
        BUCKET             = "thumbs-prod"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
