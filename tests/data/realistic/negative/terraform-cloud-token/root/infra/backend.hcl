bucket                      = "tfstate-lxdeth"
key                         = "platform/terraform.tfstate"
region                      = "fr-par"
endpoints                   = { s3 = "https://s3.fr-par.scw.cloud" }
skip_credentials_validation = true
skip_region_validation      = true
skip_requesting_account_id  = true
# project b41fb873-c7f4-4987-bdb6-45e1d85178ef
