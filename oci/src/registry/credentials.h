// Registry credentials, found where docker, podman and skopeo keep them. Internal to the oci library.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "layerleak/core.h"
#include "layerleak/oci.h"

namespace layerleak::oci::registry {

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token (docker login with an identity provider)
  std::string origin;          // where they came from, for messages: "--creds", "/root/.docker/config.json"
};

// The credentials for `registry` ("127.0.0.1:5000", "docker.io") and `repository`, in the order
// CONTRACT.md gives: --creds (password from LAYERLEAK_REGISTRY_PASSWORD when only USER is given), then
// the auth file (--authfile, else $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json):
// credHelpers for the registry, an `auths` entry (the longest "host/namespace" key that matches wins),
// then credsStore. nullopt when none apply. A named file that cannot be read or parsed is an error,
// never "no credentials". --creds belongs to the registries of options.allowed_registries when that list
// is not empty: for any other registry it is not used. A credential helper still running when `cancel`
// becomes true is killed (Errc::cancelled).
Result<std::optional<Credentials>> find_credentials(const RegistryOptions& options, const std::string& registry,
                                                    const std::string& repository,
                                                    const std::atomic<bool>* cancel = nullptr);

// The auth-file key for a registry, normalised: scheme, trailing "/", "/v1" and "/v2" dropped, Docker
// Hub's names mapped to "docker.io".
std::string normalise_auth_key(std::string_view key);

}  // namespace layerleak::oci::registry
