# mutegate-server, built from this crate's sources with no registry access at build time.
#
# Vendor the crates first (on a machine that reaches crates.io), then build:
#
#   cargo vendor --locked vendor > /dev/null
#   docker build -t mutegate-server .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/mutegate.toml:/etc/mutegate/mutegate.toml:ro" \
#     -e MUTEGATE_CHECKS_TOKENS=... mutegate-server
#
# The config's server.bind must be "0.0.0.0:8080" inside a container; point the
# orchestrator's probes at GET /healthz (liveness) and GET /readyz (readiness). A durable store
# goes in a volume mounted at /var/lib/mutegate (store.dir = "/var/lib/mutegate").
# The images need the Rust and Debian base images already present (docker pull them
# beforehand for an offline build); CI does not build this file.

FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN test -d vendor || { echo "run 'cargo vendor --locked vendor' before docker build"; exit 1; } \
 && mkdir -p .cargo \
 && printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "vendor"\n' > .cargo/config.toml \
 && cargo build --release --locked --offline --features server --bin mutegate-server

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/mutegate --create-home mutegate
COPY --from=build /src/target/release/mutegate-server /usr/local/bin/mutegate-server
USER mutegate
EXPOSE 8080
VOLUME ["/var/lib/mutegate"]
ENTRYPOINT ["/usr/local/bin/mutegate-server"]
CMD ["--config", "/etc/mutegate/mutegate.toml"]
