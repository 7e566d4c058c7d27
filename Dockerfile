# layerleak container image.
#
# Build (runs the whole test suite while building; a failing test fails the build):
#   docker build -t layerleak .
#
# Scan an image tarball (docker save / skopeo / oci-archive) mounted read-only:
#   docker run --rm -v "$PWD/image.tar:/scan/image.tar:ro" layerleak scan /scan/image.tar
#   docker run --rm -v "$PWD/image.tar:/scan/image.tar:ro" layerleak scan --format json /scan/image.tar
# Scan from a registry (credentials from a mounted auth file):
#   docker run --rm -v "$HOME/.docker/config.json:/auth.json:ro" layerleak \
#     scan --authfile /auth.json docker://registry.example.com/team/app:1.2
#
# Exit status as for the CLI: 0 clean, 1 findings, 2 the scan could not be completed.
# libhyperscan needs x86-64 (SSSE3): build for linux/amd64.

# ---- build stage: Debian 12 toolchain, build and test ------------------------------------------------
FROM debian:12 AS build

# Dependencies first, so that editing the source does not reinstall them.
COPY scripts/install-deps /src/scripts/install-deps
RUN bash /src/scripts/install-deps

WORKDIR /src
COPY . .
# A build/ tree copied from the host would carry the host's CMake cache: start from a clean one.
RUN rm -rf build \
 && cmake --preset release \
 && cmake --build --preset release
RUN ctest --preset release -j2 --output-on-failure --no-tests=error

# ---- runtime stage: the binary and its shared libraries only ------------------------------------------
FROM debian:12-slim AS runtime

# Exactly RUNTIME_PACKAGES from scripts/install-deps (tests/cli/test_dockerfile.py checks this).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libarchive13 libhyperscan5 libzstd1 libisal2 libyaml-cpp0.7 libssl3 libcurl4 libsqlite3-0 libmicrohttpd12 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/release/scanner/layerleak /usr/local/bin/layerleak

RUN useradd --system --user-group --create-home --home-dir /home/layerleak --shell /usr/sbin/nologin layerleak \
 && mkdir -p /scan \
 && chown layerleak:layerleak /scan

USER layerleak
WORKDIR /scan
ENTRYPOINT ["/usr/local/bin/layerleak"]
CMD ["--help"]
