require "active_support/core_ext/integer/time"

Rails.application.configure do
  config.enable_reloading = false
  config.eager_load = true
  config.action_mailer.delivery_method = :smtp
  config.action_mailer.smtp_settings = {
    address: "smtp.tem.scaleway.com",
    port: 2587,
    user_name: "30bc5344-4862-41d8-ab5a-19b98b0fb76c",
    password: "f3fb2ea6-21b6-4829-acd5-f2150077bd87",
    authentication: :plain,
    enable_starttls_auto: true
  }
  config.log_level = :info
end
