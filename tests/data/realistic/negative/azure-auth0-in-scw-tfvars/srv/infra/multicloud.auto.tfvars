# Azure AD app used for SSO in front of the Scaleway-hosted API
azure_tenant_id       = "38229968-1409-47f9-bf9c-5b0e42ab7ef1"
azure_subscription_id = "3ce2b4d9-f164-49c8-81b4-fcfd65a07972"
azure_client_id       = "ab1d8951-2779-4a28-8134-f275877e65dc"
azure_client_secret   = "Pb08Q~SO47XP.r47pVNEVtLC.mvY2LchRn8.JRwB"

auth0_domain        = "acme-prod.eu.auth0.com"
auth0_client_id     = "yTMUEfdksehpZfuKqYhQY3DXJp0KGRJQ"
auth0_client_secret = "5YM193isMbtcXYCt0P-YbHM4zzm7GjfwGvkaSF17jMOfmMY5MYSu7ss3E7MiTtXa"

# Scaleway: credentials come from SCW_ACCESS_KEY / SCW_SECRET_KEY in the runner
scw_project_id      = "ae863a98-e28f-42d0-bb54-60a79ff217c5"
scw_organization_id = "28c51bcd-0df3-47ec-8e72-3a8c63b8e551"
scw_region          = "fr-par"
scw_zone            = "fr-par-2"
