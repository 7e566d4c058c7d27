bucket                      = "tfstate-xrxyko"
key                         = "platform/terraform.tfstate"
region                      = "fr-par"
endpoints                   = { s3 = "https://s3.fr-par.scw.cloud" }
skip_credentials_validation = true
skip_region_validation      = true
skip_requesting_account_id  = true
# project 9c8dd0d2-d24c-47ed-a447-dd128aa98891
