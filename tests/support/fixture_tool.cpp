// layerleak_fixture_tool SPEC.json OUT FORMAT
//
// Builds a container image fixture from a JSON spec so Python tests can make images without docker.
// FORMAT: oci-archive | oci-dir | docker-archive-legacy | docker-archive-v25 (OUT is a directory for
// oci-dir, a tar file otherwise). Exit 0 on success, 2 on a bad spec/usage/format, 1 on an I/O failure.
//
// SPEC.json (unknown keys are errors, so a typo cannot silently disable a hostile knob):
// {
//   "images": [{
//     "repo_tags": ["example/app:latest"], "env": ["K=V"], "labels": {"k": "v"},
//     "cmd": [...], "entrypoint": [...], "annotations": {"k": "v"},          // manifest annotations
//     "os": "linux", "architecture": "amd64", "variant": "", "docker_media_types": false,
//     "history": [{"created_by": "...", "empty_layer": true, "comment": "..."}], // default: one per layer
//     "layers": [{
//       "compression": "gzip|zstd|none", "created_by": "...", "media_type": "(override)",
//       "tar_base64": "(use these bytes as the layer tar instead of entries)",
//       "entries": [
//         {"type": "file", "path": "app/.env", "content": "...", "mode": 420, "repeat": 1},  // or content_base64
//         {"type": "dir", "path": "app", "mode": 493},
//         {"type": "symlink", "path": "a", "target": "b"}, {"type": "hardlink", "path": "a", "target": "b"},
//         {"type": "whiteout", "path": "app/.env"},   // -> app/.wh..env
//         {"type": "opaque", "path": "app"},          // -> app/.wh..wh..opq
//         {"type": "raw", "name": "...", "name_base64": "...", "typeflag": "0", "content": "...",
//          "linkname": "...", "mode": 420, "pax_path": false, "declared_size": 12}
//       ]}]
//   }],
//   "options": {"drop_first_layer_blob": false, "corrupt_last_layer_blob": false, "wrong_diff_id": false,
//               "truncate_last_layer_blob": false, "nested_index": false}
// }
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "fixture_builder.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr,
                 "usage: layerleak_fixture_tool SPEC.json OUT FORMAT\n"
                 "FORMAT: oci-archive | oci-dir | docker-archive-legacy | docker-archive-v25\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "layerleak_fixture_tool: cannot read %s\n", argv[1]);
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto spec = layerleak::testing::parse_fixture_spec(text.str());
  if (!spec) {
    std::fprintf(stderr, "layerleak_fixture_tool: %s\n", spec.error().message.c_str());
    return 2;
  }
  auto status = layerleak::testing::write_container(*spec, argv[3], argv[2]);
  if (!status) {
    std::fprintf(stderr, "layerleak_fixture_tool: %s\n", status.error().message.c_str());
    return status.error().code == layerleak::Errc::invalid_argument ? 2 : 1;
  }
  return 0;
}
