// The registry image source (docker://), over the distribution API v2. Internal to the oci library.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "layerleak/core.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

struct RegistryReference {
  std::string registry;    // as written, Docker Hub as "docker.io": "127.0.0.1:5000", "rg.fr-par.scw.cloud"
  std::string host;        // where requests go: "registry-1.docker.io" for Docker Hub, else `registry`
  std::string repository;  // "library/alpine"
  std::string tag;         // "" when only a digest is given
  std::optional<Digest> digest;

  // "docker://127.0.0.1:5000/app:1" or "docker://…/app@sha256:…" (the digest wins when both are given).
  std::string str() const;
};

// Parses the part after "docker://": HOST[:PORT]/REPO[:TAG|@DIGEST], with Docker Hub's short names
// ("alpine" is docker.io/library/alpine:latest).
Result<RegistryReference> parse_registry_reference(std::string_view text);

// True for hosts that may use plain HTTP without --tls-verify=false: localhost, 127.0.0.0/8, ::1.
bool is_loopback_host(std::string_view host_port);

Result<std::unique_ptr<ImageSource>> open_registry(std::string_view reference, const RegistryOptions& options);

}  // namespace layerleak::oci
