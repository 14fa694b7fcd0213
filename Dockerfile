# Build: compile the server into one self-contained executable with Bun.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile
COPY . .
RUN bun run build

# Run: the executable alone on a slim glibc base (the compiled binary carries the Bun runtime).
FROM debian:bookworm-slim
# The home exists in the image and belongs to the user, so a new named volume there starts writable
# (Docker copies the image's directory, owner included, into it).
RUN useradd --create-home --uid 10001 hermes && install -d -o hermes -g hermes /home/hermes/.hermes
COPY --from=build /src/dist/hermes-optx-api /usr/local/bin/hermes-optx-api
USER hermes
# Bun's fetch allows 256 requests at once unless this is set at process start (streams to the upstream).
ENV BUN_CONFIG_MAX_HTTP_REQUESTS=4096 \
    HERMES_HOME=/home/hermes/.hermes \
    OPTX_API_HOST=0.0.0.0 \
    OPTX_API_PORT=8643
VOLUME ["/home/hermes/.hermes"]
EXPOSE 8643
# No curl in the slim image: bash's /dev/tcp speaks just enough HTTP for a health check. It reads
# OPTX_API_PORT: set the port with that variable, not with --port, or the check looks elsewhere.
# Builtins only, in exec form, bounded by read -t: on its timeout Docker SIGKILLs the check's own
# process, and a `| head | grep` left those two behind, adopted (and never reaped) by PID 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${OPTX_API_PORT} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]
ENTRYPOINT ["/usr/local/bin/hermes-optx-api"]
