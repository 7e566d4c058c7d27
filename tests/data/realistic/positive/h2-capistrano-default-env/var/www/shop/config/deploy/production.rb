server "163.172.18.44", user: "deploy", roles: %w{app db web}

set :branch, "main"
set :rails_env, "production"

set :default_env, {
  "AWS_ACCESS_KEY_ID" => "SCWBG3Q4Z4DV9Y5TR9JA",
  "AWS_SECRET_ACCESS_KEY" => "3ea27b51-198b-4b22-84ad-d082c1b2f7ee",
  "AWS_REGION" => "fr-par",
  "AWS_ENDPOINT" => "https://s3.fr-par.scw.cloud"
}
