// Sources implemented in one file and used by another. Internal to the oci library.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "file_tree.h"
#include "layerleak/oci.h"

namespace layerleak::oci {

// A docker-archive (`docker save` tar) over any tree: a tar file, standard input, a daemon's answer.
std::unique_ptr<ImageSource> make_docker_archive_source(std::unique_ptr<FileTree> tree, std::string location, std::string ref);

// "docker-daemon:NAME[:TAG]" or "docker-daemon:sha256:ID" (`rest` is what follows the prefix).
Result<std::unique_ptr<ImageSource>> open_daemon(std::string_view rest, const SourceOptions& options);

}  // namespace layerleak::oci
