// The registry image source (docker://), over the distribution API v2. Internal to the oci library.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerleak/core.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

// RegistryReference and parse_registry_reference are public (layerleak/oci.h).

// True for hosts that may use plain HTTP without --tls-verify=false: "localhost", a literal IPv4 address
// in 127.0.0.0/8, or ::1 (with or without a port, IPv6 in brackets when a port follows). Names that merely
// start with "127." are not loopback.
bool is_loopback_host(std::string_view host_port);

// The schemes a registry at `host_port` is asked in, in order (see session.cpp): a loopback registry in
// plain HTTP first, then TLS; any other over TLS only, or TLS then plain HTTP without TLS verification.
std::vector<std::string> probe_schemes(std::string_view host_port, bool tls_verify);

// Whether `registry` (RegistryReference::registry) is in options.allowed_registries (true when the list is
// empty). Case-insensitive; Docker Hub's other names count as "docker.io".
bool registry_allowed(const RegistryOptions& options, std::string_view registry);

// The Accept header of manifest requests: OCI and Docker schema 2 manifests and indexes.
inline constexpr std::string_view kAcceptManifestsHeader =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// The URI reference of the first link whose rel includes "next" in a Link header value (RFC 8288:
// `<uri>; rel="next"`, several links separated by commas, rel case-insensitive and possibly a
// space-separated list); "" when there is none or the value is not well formed.
std::string next_link(std::string_view link_header);

// Text from a registry made safe for one line of a message: control and non-ASCII bytes as \xNN, cut to
// `max` bytes with "…".
std::string printable(std::string_view text, std::size_t max = 120);

// The distribution grammar: "HOST[:PORT]" (a name, IPv4 or [IPv6]); repository names (lower-case path
// components [a-z0-9]+ joined by ".", "_", "__" or runs of "-", separated by "/", at most 255 bytes); tags
// ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
bool valid_registry_host(std::string_view host);
bool valid_repository_name(std::string_view repository);
bool valid_tag_name(std::string_view tag);

// `cancel`: see SourceOptions::cancel.
Result<std::unique_ptr<ImageSource>> open_registry(std::string_view reference, const RegistryOptions& options,
                                                   const std::atomic<bool>* cancel = nullptr);

}  // namespace layerleak::oci
