# prod environment -- applied from the ops bastion
environment = "prod"
region      = "nl-ams"

scaleway = {
  access_key = "SCWHQEA2KAARE6XNECDZ"
  secret_key = "5505168c-2c2b-4d03-b996-6d3668cccf01"
  project_id = "04822904-6870-4f0c-903e-7adb8de94b19"
}

object_storage = {
  bucket   = "acme-prod-assets"
  endpoint = "https://s3.nl-ams.scw.cloud"
  secret   = "d73b5deb-f049-4305-810d-b6a18dbd97f5"
}

allowed_cidrs = ["10.20.0.0/16", "192.0.2.17/32"]
