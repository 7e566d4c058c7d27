# Azure AD app used for SSO in front of the Scaleway-hosted API
azure_tenant_id       = "30598f25-32f8-4a26-a117-085c4e900917"
azure_subscription_id = "5b71dbac-41aa-41e7-b2ff-d1a56ac959c6"
azure_client_id       = "f2c9ca13-74c1-48ab-8f85-75056fe387a3"
azure_client_secret   = "Rui8Q~1-euHjV2ZbqkWVv.0Dmc5jG0EJbOZvlFyJ"

auth0_domain        = "acme-prod.eu.auth0.com"
auth0_client_id     = "EHkBA9I3TrBFO2Z1wS7ngqUuqavQLUfC"
auth0_client_secret = "5hpKJgO9s12hpKVgO-QhUrIgcGgzJ3E-WG4U95oOdmaY3wWlQxpgV_uN0PVMYVBB"

# Scaleway: credentials come from SCW_ACCESS_KEY / SCW_SECRET_KEY in the runner
scw_project_id      = "aa5db560-c684-4d1f-9b23-c82a933bf7dc"
scw_organization_id = "460f378d-16f5-4ef1-8fd4-73cf360fdd0f"
scw_region          = "fr-par"
scw_zone            = "fr-par-2"
