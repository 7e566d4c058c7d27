import Config

if config_env() == :prod do
  config :my_app, MyApp.Repo,
    url: System.fetch_env!("DATABASE_URL"),
    pool_size: 10

  config :ex_aws,
    access_key_id: "SCWSNRY634CVCDRKW1EM",
    secret_access_key: "611e6ebc-7b58-4cec-adfd-671ca6f10e5c",
    region: "fr-par",
    s3: [
      scheme: "https://",
      host: "s3.fr-par.scw.cloud",
      region: "fr-par"
    ]
end
