# prod environment -- applied from the ops bastion
environment = "prod"
region      = "nl-ams"

scaleway = {
  access_key = "SCW8YG0TYW8K4RFHPDZ3"
  secret_key = "f6713820-cab6-4fd0-a104-121982db28d9"
  project_id = "f1432ea2-54a4-4d90-8277-991011baa739"
}

object_storage = {
  bucket   = "acme-prod-assets"
  endpoint = "https://s3.nl-ams.scw.cloud"
  secret   = "d8e22aca-d7a1-45d2-ba26-a710e11883a2"
}

allowed_cidrs = ["10.20.0.0/16", "192.0.2.17/32"]
