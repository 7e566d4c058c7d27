bucket                      = "tfstate-zpvaer"
key                         = "platform/terraform.tfstate"
region                      = "fr-par"
endpoints                   = { s3 = "https://s3.fr-par.scw.cloud" }
skip_credentials_validation = true
skip_region_validation      = true
skip_requesting_account_id  = true
# project 168b9b9f-ab2b-4d56-b6bf-da6db519ff39
