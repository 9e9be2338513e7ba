#!/usr/bin/env bash
# Build a Redis image without any registry: the host's Debian redis-server binary and the
# shared libraries it links, imported as a root filesystem with `docker import`.
#
# Why: the Docker tests and the container backend need a Redis image, and machines without
# registry access cannot pull redis:7.4. The image is tiny (no shell, no package manager)
# and tracks the host binary, so it is rebuilt only when that binary changes.
#
# usage: bash docker/build-redis-image.sh [TAG] [--force]
#   TAG      image tag to build (default wordcount-redis:7)
#   --force  rebuild even if TAG was built from the same binary
set -euo pipefail

TAG="wordcount-redis:7"
FORCE=0
# Bump when the root filesystem recipe below changes, so old images get rebuilt.
RECIPE=1
LABEL="org.wordcount.redis-build"

for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "error: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) TAG="$arg" ;;
    esac
done

die() { echo "error: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker CLI not found: install Docker first"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer: is it running (and may you use it)?"

find_redis() {
    local candidate
    for candidate in "$(command -v redis-server || true)" /usr/bin/redis-server /usr/sbin/redis-server /usr/local/bin/redis-server; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

if ! REDIS=$(find_redis); then
    echo "redis-server not found: installing Debian's redis-server package" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
    REDIS=$(find_redis) || die "apt-get installed redis-server but no binary was found"
fi

# Debian ships redis-server as a symlink to redis-check-rdb; the binary picks its mode from
# argv[0], so the real file is copied under the name redis-server.
BINARY=$(readlink -f "$REDIS")
STAMP="$RECIPE-$(sha256sum "$BINARY" | cut -c1-64)"
OLD_ID=$(docker image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
OLD_STAMP=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$TAG" 2>/dev/null || true)
if [ "$FORCE" = 0 ] && [ "$OLD_STAMP" = "$STAMP" ]; then
    echo "$TAG is up to date (built from $BINARY, $(docker image inspect --format '{{.Size}}' "$TAG") bytes)" >&2
    echo "$TAG"
    exit 0
fi

ROOT=$(mktemp -d)
CID=""
cleanup() {
    [ -z "$CID" ] || docker rm -f "$CID" >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT

# Copy a file to the same path inside the root filesystem, following symlinks.
put() {
    mkdir -p "$ROOT$(dirname "$2")"
    cp -L "$1" "$ROOT$2"
}

# ldd prints both "name => /path (addr)" lines and the loader as "/path (addr)".
libraries() {
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

echo "building $TAG from $BINARY" >&2
mkdir -p "$ROOT"/{etc,tmp,data,usr/bin}
chmod 1777 "$ROOT/tmp"
chmod 0777 "$ROOT/data"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nredis:x:999:999:redis:/data:/usr/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nredis:x:999:\n' >"$ROOT/etc/group"
put "$BINARY" /usr/bin/redis-server
BINARIES=("$BINARY")
# redis-cli is optional: it only serves `docker exec ... redis-cli` for debugging.
if CLI=$(command -v redis-cli); then
    put "$CLI" /usr/bin/redis-cli
    BINARIES+=("$CLI")
fi
for bin in "${BINARIES[@]}"; do
    for lib in $(libraries "$bin"); do
        put "$lib" "$lib"
    done
done

tar -C "$ROOT" -c . | docker import \
    --change 'CMD ["/usr/bin/redis-server","--dir","/data"]' \
    --change 'WORKDIR /data' \
    --change 'EXPOSE 6379' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL $LABEL=$STAMP" \
    - "$TAG" >/dev/null

# Check the image for real: redis answers PING through a published port, also after a
# pause/unpause cycle (which needs a working cgroup freezer on this engine).
ping_once() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        read -r -t 2 reply <&3 || exit 1
        [ "${reply%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
}
ping_port() {
    local i
    for i in $(seq 1 50); do
        ping_once "$1" && return 0
        sleep 0.1
    done
    return 1
}
CID=$(docker run -d -p 127.0.0.1::6379 "$TAG" redis-server --bind 0.0.0.0 --protected-mode no)
PORT=$(docker port "$CID" 6379/tcp | head -n1 | sed 's/.*://')
ping_port "$PORT" || { docker logs "$CID" >&2; die "the new image $TAG does not answer PING"; }
docker pause "$CID" >/dev/null || die "docker pause failed: the engine's cgroup freezer does not work"
docker unpause "$CID" >/dev/null
ping_port "$PORT" || die "$TAG does not answer PING after docker pause/unpause"

NEW_ID=$(docker image inspect --format '{{.Id}}' "$TAG")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    docker rmi "$OLD_ID" >/dev/null 2>&1 || true  # still used by a container: keep it
fi
echo "built $TAG ($(docker image inspect --format '{{.Size}}' "$TAG") bytes), verified with PING and pause" >&2
echo "$TAG"
