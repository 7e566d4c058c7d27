provider "aws" {
  alias      = "scw"
  region     = "fr-par"
  access_key = "SCWY1H3H1P5RRKG6V5X7"
  secret_key = "b57e24a0-bac8-48d9-80c3-a62fa468421e"

  skip_credentials_validation = true
  skip_region_validation      = true
  skip_requesting_account_id  = true

  endpoints {
    s3 = "https://s3.fr-par.scw.cloud"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  provider = aws.scw
  bucket   = "acme-logs"

  rule {
    id     = "expire"
    status = "Enabled"
    expiration {
      days = 30
    }
  }
}
