remote_state {
  backend = "s3"
  generate = {
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }
  config = {
    bucket                      = "acme-terragrunt-state"
    key                         = "${path_relative_to_include()}/terraform.tfstate"
    region                      = "fr-par"
    endpoint                    = "https://s3.fr-par.scw.cloud"
    access_key                  = "SCWPVVT3EKQZCH6RVXFN"
    secret_key                  = "8674965e-0bb8-4e77-82bc-9d852f53e2d4"
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_bucket_versioning      = true
  }
}
