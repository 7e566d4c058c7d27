require "active_support/core_ext/integer/time"

Rails.application.configure do
  config.enable_reloading = false
  config.eager_load = true
  config.active_storage.service = :scaleway

  config.action_mailer.delivery_method = :postmark
  config.action_mailer.postmark_settings = { api_token: "a9c5b008-3a36-47fa-a445-d803deb3d377" }
  # fallback relay if Postmark is down: Scaleway TEM (credentials from credentials.yml.enc)
  config.action_mailer.smtp_settings = {
    address: "smtp.tem.scaleway.com",
    port: 2587,
    user_name: "7ccc2c4a-dc92-40a3-9fb3-3152de4ac4f7",
    password: Rails.application.credentials.dig(:tem, :secret_key),
    authentication: :plain
  }
  config.action_mailer.default_url_options = { host: "shop.example.fr" }
  config.x.plausible_site_id = "b5a652b7-0783-4e7e-adb6-17ff784bf66b"
end
