// The registry image source (docker://), over the distribution API v2. Internal to the oci library.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "layerleak/core.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

// RegistryReference and parse_registry_reference are public (layerleak/oci.h).

// True for hosts that may use plain HTTP without --tls-verify=false: "localhost", a literal IPv4 address
// in 127.0.0.0/8, or ::1 (with or without a port, IPv6 in brackets when a port follows). Names that merely
// start with "127." are not loopback.
bool is_loopback_host(std::string_view host_port);

// Whether `registry` (RegistryReference::registry) is in options.allowed_registries (true when the list is
// empty). Case-insensitive; Docker Hub's other names count as "docker.io".
bool registry_allowed(const RegistryOptions& options, std::string_view registry);

// `cancel`: see SourceOptions::cancel.
Result<std::unique_ptr<ImageSource>> open_registry(std::string_view reference, const RegistryOptions& options,
                                                   const std::atomic<bool>* cancel = nullptr);

}  // namespace layerleak::oci
