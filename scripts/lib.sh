# Shared by ./scripts/run, ./scripts/test and ./scripts/bench: installs what is missing and
# starts throw-away Redis and PostgreSQL servers on loopback, with their data under .local/.
# Source it; do not run it.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO_ROOT/.local"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Installs redis-server, PostgreSQL and the .NET SDK check; each only when missing.
ensure_tools() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || apt_install redis-server
  [ -n "$(pg_bin_dir)" ] || apt_install postgresql
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is not on PATH"
  PG_BIN="$(pg_bin_dir)"
}

# What the Python interop check needs (./scripts/test only): Debian's gRPC for Python and protoc with
# its gRPC plugin (protoc 3.21 knows `optional`; Debian's python3-grpc-tools is too old for it).
ensure_interop_tools() {
  local missing=()
  command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
  command -v grpc_python_plugin >/dev/null 2>&1 || missing+=(protobuf-compiler-grpc)
  /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || missing+=(python3-grpcio python3-protobuf)
  /usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1 || missing+=(python3-cryptography)
  [ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
}

# The Admin Center formats dates per culture (ICU); its browser tests drive Debian's Chromium
# through its ChromeDriver (./scripts/test only).
ensure_browser_tools() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  ls /usr/lib/x86_64-linux-gnu/libicuuc.so.* /usr/lib/*/libicuuc.so.* >/dev/null 2>&1 || missing+=(libicu72)
  [ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
}

port_is_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Our servers listen below the kernel's ephemeral range, so that no outgoing connection (which
# takes its local port from that range) can hold a port between the check and the bind.
ephemeral_low() {
  local low
  low="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)"
  [[ "$low" =~ ^[0-9]+$ ]] && [ "$low" -gt 22000 ] && echo "$low" || echo 32768
}

# Prints a free TCP port on loopback below the ephemeral range.
free_port() {
  local port span=$(($(ephemeral_low) - 12000))
  for _ in $(seq 1 200); do
    port=$((12000 + RANDOM % span))
    if port_is_free "$port"; then echo "$port"; return 0; fi
  done
  die "no free port found"
}

# A free port for a Redis Cluster node: its bus port (port + 10000) must be free and below the
# ephemeral range too.
free_cluster_port() {
  local port span=$(($(ephemeral_low) - 10000 - 12000))
  for _ in $(seq 1 200); do
    port=$((12000 + RANDOM % span))
    if port_is_free "$port" && port_is_free $((port + 10000)); then echo "$port"; return 0; fi
  done
  die "no free port found"
}

wait_until() {
  local what="$1" tries="$2"; shift 2
  for _ in $(seq 1 "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up"
}

log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# redis_node_up DIR PORT LOG_OFFSET: waits until the Redis in DIR answers on PORT (0) or gave up
# (1, with the end of its log on stderr). A node that cannot bind exits at once, saying so in its
# log after LOG_OFFSET (what earlier runs wrote before it); we stop waiting then.
redis_node_up() {
  local dir="$1" port="$2" offset="${3:-0}"
  for _ in $(seq 1 150); do
    # Ours, not some other server that already held the port: it answers with our folder.
    [ "$(redis-cli -p "$port" config get dir 2>/dev/null | tail -n 1)" = "$(cd "$dir" && pwd -P)" ] && return 0
    if tail -c +$((offset + 1)) "$dir/redis.log" 2>/dev/null | grep -qE "Could not create server TCP listening socket|Failed listening|aborting|Fatal"; then
      break
    fi
    sleep 0.2
  done
  log "Redis on port $port did not come up; the end of its log:"
  tail -n 15 "$dir/redis.log" >&2 2>/dev/null || true
  [ ! -s "$dir/redis.pid" ] || kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  return 1
}

# launch_redis DIR PORT [ARGS...]: a Redis on 127.0.0.1:PORT with its files in DIR (AOF on and listpack
# hashes of values up to 256 bytes, as deploy/redis.conf has them) and any further redis-server arguments;
# returns once it answers (0) or gave up (1).
launch_redis() {
  local dir="$1" port="$2"; shift 2
  mkdir -p "$dir"
  local offset; offset="$(log_size "$dir/redis.log")"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes --hash-max-listpack-value 256 "$@"
  redis_node_up "$dir" "$port" "$offset"
}

# start_redis DIR PORT: a Redis on 127.0.0.1:PORT with its files in DIR.
start_redis() {
  launch_redis "$1" "$2" || die "Redis on port $2 did not come up"
  log "Redis on 127.0.0.1:$2"
}

# start_redis_cluster DIR COUNT: COUNT masters on free loopback ports, slots spread by
# redis-cli. Sets CLUSTER_PORTS. A node whose port was taken meanwhile is retried on another port.
CLUSTER_PORTS=()
start_redis_cluster() {
  local dir="$1" count="$2" port attempt nodes=()
  for _ in $(seq 1 "$count"); do
    for attempt in 1 2 3 4 5; do
      port="$(free_cluster_port)"
      rm -rf "${dir:?}/$port"
      if launch_redis "$dir/$port" "$port" --cluster-enabled yes \
        --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 5000; then
        break
      fi
      [ "$attempt" -lt 5 ] || die "no Redis cluster node came up after $attempt ports"
    done
    CLUSTER_PORTS+=("$port")
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
  wait_until "the Redis cluster" 150 bash -c "redis-cli -p ${CLUSTER_PORTS[0]} cluster info | grep -q cluster_state:ok"
  log "Redis Cluster on 127.0.0.1:$(IFS=,; echo "${CLUSTER_PORTS[*]}")"
}

stop_redis() {
  local port="$1"
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

# start_postgres DIR PORT [durable]: a PostgreSQL on 127.0.0.1:PORT, cluster in DIR, role and database
# "licensebroker" (trust authentication on loopback: a throw-away development server). Without
# "durable" it skips fsync (tests, the demo); with it, fsync, synchronous_commit and full-page writes
# are on, as on a production server (./scripts/bench, so that the PostgreSQL design it compares with
# pays what it would pay in production).
start_postgres() {
  local dir="$1" port="$2" durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${3:-}" = "durable" ] && durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
  mkdir -p "$dir"
  # PostgreSQL refuses to run as root: the cluster belongs to the postgres user when we are root.
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres "$dir"
    run_as=(runuser -u postgres --)
    # The postgres user must be able to reach the folder.
    local parent="$dir"
    while [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; parent="$(dirname "$parent")"; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${run_as[@]}" mkdir -p "$dir/data"
    "${run_as[@]}" "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 $durability" \
    start >/dev/null || { tail -n 30 "$dir/data/server.log" >&2; die "PostgreSQL did not start"; }
  psql_admin "$dir" "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'licensebroker'" | grep -q 1 \
    || psql_admin "$dir" "$port" -qc "CREATE ROLE licensebroker LOGIN CREATEDB"
  psql_admin "$dir" "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'licensebroker'" | grep -q 1 \
    || psql_admin "$dir" "$port" -qc "CREATE DATABASE licensebroker OWNER licensebroker"
  log "PostgreSQL on 127.0.0.1:$port"
}

psql_admin() {
  local dir="$1" port="$2"; shift 2
  psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

stop_postgres() {
  local dir="$1"
  local run_as=()
  [ "$(id -u)" -eq 0 ] && run_as=(runuser -u postgres --)
  [ -f "$dir/data/postmaster.pid" ] && "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Key used to sign development tokens; generated once, never committed (.local/ is ignored).
dev_signing_key() {
  local file="$LOCAL_DIR/dev-signing-key"
  if [ ! -s "$file" ]; then
    mkdir -p "$LOCAL_DIR"
    head -c 32 /dev/urandom | base64 >"$file"
    chmod 600 "$file"
  fi
  cat "$file"
}
