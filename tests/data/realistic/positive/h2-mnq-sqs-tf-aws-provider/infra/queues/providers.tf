provider "aws" {
  alias                       = "mnq"
  region                      = "fr-par"
  access_key                  = "ItuXjT3j73dCugM0hRQ8"
  secret_key                  = "hs6qnX0EgMqAgnTmyD8sK5Xpus3HiaftUsWKOCpuDfK2i3a8RBsgZlWtcFBLvTNX"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  skip_metadata_api_check     = true

  endpoints {
    sqs = "https://sqs.mnq.fr-par.scaleway.com"
  }
}

resource "aws_sqs_queue" "orders" {
  provider = aws.mnq
  name     = "orders"
}
