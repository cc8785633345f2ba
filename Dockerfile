# Builds and runs switchyard. The image listens on all interfaces, so it
# needs a dialplan of your own: the demo passwords are refused off loopback.
#   docker build -t switchyard .
#   docker run --rm -p 5060:5060/udp -p 5060:5060/tcp -p 8080:8080 \
#     -v $PWD/my-centre.toml:/etc/switchyard/switchyard.toml switchyard
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libopus-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin switchyard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/switchyard --create-home switchyard
COPY --from=build /src/target/release/switchyard /usr/local/bin/switchyard
COPY dialplans /etc/switchyard/dialplans
# Queue prompts: point `[media] prompts` at this directory.
COPY prompts /etc/switchyard/prompts
USER switchyard
WORKDIR /var/lib/switchyard
# SIP, HTTP, and the RTP range of `[media] rtp_ports` (the demo's 20000-20999).
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-20999/udp
CMD ["switchyard", "run", "--config", "/etc/switchyard/switchyard.toml"]
