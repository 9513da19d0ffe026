# Burrow as one container: `docker build -t burrow .`, then see
# manifests/compose.yml (the Docker socket and a data volume) or
# manifests/kubernetes/ (a Deployment in the cluster it manages).
#
# Stage 1 builds the server and its site with cargo-leptos (the same tools
# scripts/setup.sh installs: the wasm target, cargo-leptos without its
# downloader, wasm-bindgen-cli at the version in Cargo.lock, binaryen's
# wasm-opt). Stage 2 is a slim Debian with the binary, the site, a non-root
# user and the data volume.

FROM rust:1-bookworm AS build
# binaryen from npm: Debian's (108) breaks hydration silently.
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g binaryen@132.0.0
RUN rustup target add wasm32-unknown-unknown
RUN cargo install cargo-leptos --locked --version 0.3.10 --features no_downloads
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# wasm-bindgen-cli must match the wasm-bindgen crate exactly.
RUN version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock) \
 && cargo install wasm-bindgen-cli --locked --version "$version"
COPY . .
RUN cargo leptos build --release --split --precompress \
 && install -D target/release/burrow /out/burrow \
 && cp -r target/site /out/site

FROM debian:bookworm-slim
# curl for the health check (it asks the console on loopback only).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin burrow \
 && install -d -o burrow -g burrow -m 0700 /data
COPY --from=build /out/burrow /usr/local/bin/burrow
COPY --from=build /out/site /usr/share/burrow/site
# On a non-loopback address Burrow serves HTTPS with its own CA (download
# it from the console, or give BURROW_TLS_CERT/BURROW_TLS_KEY).
ENV BURROW_LISTEN=0.0.0.0:8443 \
    BURROW_DATA_DIR=/data \
    BURROW_SITE_ROOT=/usr/share/burrow/site
VOLUME /data
USER burrow
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsSk --max-time 4 https://127.0.0.1:8443/healthz >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/burrow"]
CMD ["serve"]
