# Secret Manager references (values live in Scaleway Secret Manager, not here)
scw_secret_id         = "fr-par/3df8a98b-c4f7-487a-9131-94876854ffd2"
db_password_secret_id = "81ca5789-bc6a-4d55-9c57-78385c9280e8"
api_token_secret_id   = "578e73d7-8d8f-4a95-923b-a5dfb0400973"
secret_version        = "latest"
