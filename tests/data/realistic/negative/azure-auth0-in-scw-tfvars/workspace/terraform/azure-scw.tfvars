# Azure AD app used for SSO in front of the Scaleway-hosted API
azure_tenant_id       = "62d7053a-2df1-41ee-8583-3ac0bbd3652d"
azure_subscription_id = "1db8e37c-69d6-4542-b821-0a924045e386"
azure_client_id       = "ce3a1403-5192-40a6-9fa0-3b0f486008d3"
azure_client_secret   = "IM28Q~vRn2z6wr-c.BVNzTcnckmVmKWOQRtFgBk3"

auth0_domain        = "acme-prod.eu.auth0.com"
auth0_client_id     = "g6HW4qTfxOPYIUwGg8qTvihBm3H1ahf3"
auth0_client_secret = "rrtlgfaHGfgNnJzgQAYcz7oimkrH9bYilY3MnsUWzSHXA0AFCxV9vLv75MJuK7tc"

# Scaleway: credentials come from SCW_ACCESS_KEY / SCW_SECRET_KEY in the runner
scw_project_id      = "746febca-a8f5-4dab-8560-305b56613600"
scw_organization_id = "f4f19084-d5b6-46c6-8fa2-d9f17b0afd35"
scw_region          = "fr-par"
scw_zone            = "fr-par-2"
