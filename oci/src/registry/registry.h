// The registry image source (docker://), over the distribution API v2. Internal to the oci library.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "layerleak/core.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

// RegistryReference and parse_registry_reference are public (layerleak/oci.h).

// True for hosts that may use plain HTTP without --tls-verify=false: localhost, 127.0.0.0/8, ::1.
bool is_loopback_host(std::string_view host_port);

Result<std::unique_ptr<ImageSource>> open_registry(std::string_view reference, const RegistryOptions& options);

}  // namespace layerleak::oci
