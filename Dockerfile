# Builds and runs switchyard. The image listens on all interfaces, so it
# needs a dialplan of your own: the demo passwords and the demo API token
# are refused off loopback. README "Running in a container" has the
# whole example (ports, RTP range, advertise_address, volume).
#   docker build -t switchyard .
#   docker run -d --name switchyard \
#     -p 5060:5060/udp -p 5060:5060/tcp -p 8080:8080 -p 20000-20999:20000-20999/udp \
#     -v $PWD/my-centre.toml:/etc/switchyard/switchyard.toml:ro \
#     -v switchyard-data:/var/lib/switchyard switchyard
FROM rust:1.95-bookworm AS build
# libopus-dev + pkg-config: the Opus codec; the image's gcc builds the bundled SQLite.
RUN apt-get update && apt-get install -y --no-install-recommends libopus-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin switchyard \
    && strip target/release/switchyard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/switchyard --create-home switchyard
COPY --from=build /src/target/release/switchyard /usr/local/bin/switchyard
COPY dialplans /etc/switchyard/dialplans
# Queue and menu prompts: `prompts` in `[media]` is read relative to the
# dialplan file, so /etc/switchyard/switchyard.toml finds these by default.
COPY prompts /etc/switchyard/prompts
USER switchyard
# Call records (cdr_path), recordings and anything else written at run time.
WORKDIR /var/lib/switchyard
VOLUME /var/lib/switchyard
# SIP, HTTP, and the RTP range of `[media] rtp_ports` (the demo's 20000-20999).
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-20999/udp
# /healthz without curl in the image: bash's /dev/tcp (http_listen on 8080).
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD \
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "'
CMD ["switchyard", "run", "--config", "/etc/switchyard/switchyard.toml"]
