# Frost's daemon and CLI in a container. Multi-stage: the Go toolchain
# builds static binaries; the runtime image holds only them.
#
# The build step runs the same command as `make build` (its BUILD_CMD); a
# test in cmd/frostd checks that they agree.
#
# frostd reaches guests on the host: see the README ("Running frostd") for
# the mounts and privileges (libvirt's socket, /dev/shm, the host PID
# namespace, CAP_SYS_PTRACE for /proc/<pid>/mem).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -o bin/ ./cmd/...

FROM debian:bookworm-slim
# ca-certificates: symbol servers are reached over HTTPS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/frostd /src/bin/frostctl /usr/local/bin/
# The socket, the state file, per-VM paging/mapped files, the symbol cache.
VOLUME ["/run/frost", "/var/lib/frost", "/var/cache/frost"]
ENTRYPOINT ["/usr/local/bin/frostd"]
