pid_file = "/run/vault-agent.pid"

vault {
  address = "https://vault.acme.internal:8200"
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/vault-agent/role_id"
      secret_id_file_path = "/etc/vault-agent/secret_id"
    }
  }
  sink "file" {
    config = { path = "/run/vault-token" }
  }
}

template {
  contents    = <<-EOT
  {{ with secret "kv/data/scaleway/ci" }}
  SCW_ACCESS_KEY={{ .Data.data.access_key }}
  SCW_SECRET_KEY={{ .Data.data.secret_key }}
  {{ end }}
  SCW_DEFAULT_PROJECT_ID=d23fa7a6-2fac-4d72-a97b-1fd5a75e6a69
  SCW_DEFAULT_ORGANIZATION_ID=0004647d-8503-40e6-8c0e-a04576e8429b
  EOT
  destination = "/run/secrets/scw.env"
}
