/work/main/testkit/standin/target/debug/deps/standin-b6afec04eed327e6.d: src/main.rs src/backends.rs src/config.rs src/deps.rs src/http.rs src/infra.rs src/log.rs src/net.rs src/shell.rs src/sig.rs src/util.rs src/yaml.rs

/work/main/testkit/standin/target/debug/deps/standin-b6afec04eed327e6: src/main.rs src/backends.rs src/config.rs src/deps.rs src/http.rs src/infra.rs src/log.rs src/net.rs src/shell.rs src/sig.rs src/util.rs src/yaml.rs

src/main.rs:
src/backends.rs:
src/config.rs:
src/deps.rs:
src/http.rs:
src/infra.rs:
src/log.rs:
src/net.rs:
src/shell.rs:
src/sig.rs:
src/util.rs:
src/yaml.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
