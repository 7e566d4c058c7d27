terraform {
  backend "s3" {
    bucket                      = "acme-tfstate"
    key                         = "storefront/prod.tfstate"
    region                      = "fr-par"
    endpoint                    = "https://s3.fr-par.scw.cloud"
    access_key                  = "SCW5Q9265KCE09KGCD2A"
    secret_key                  = "23987dbc-2d6f-4a34-a450-433f6ac64972"
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
  }
}
