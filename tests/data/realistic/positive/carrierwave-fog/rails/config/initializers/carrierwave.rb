CarrierWave.configure do |config|
  config.fog_provider = "fog/aws"
  config.fog_credentials = {
    provider: "AWS",
    aws_access_key_id: "SCWHYQ20DNBDP5C70BNZ",
    aws_secret_access_key: "e026363e-03f5-4b99-9777-ec55da31ab5d",
    region: "fr-par",
    host: "s3.fr-par.scw.cloud",
    endpoint: "https://s3.fr-par.scw.cloud",
    path_style: true
  }
  config.fog_directory = "acme-uploads"
  config.fog_public = false
end
