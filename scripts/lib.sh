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

port_is_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a free TCP port on loopback, trying random ones in 20000-59999.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if port_is_free "$port"; then echo "$port"; return 0; fi
  done
  die "no free port found"
}

# A free port for a Redis Cluster node: its bus port (port + 10000) must be free and valid too.
free_cluster_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 25000))
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

# start_redis DIR PORT: a Redis on 127.0.0.1:PORT with its files in DIR (AOF on, as in production).
start_redis() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  wait_until "Redis on port $port" 100 redis-cli -p "$port" ping
  log "Redis on 127.0.0.1:$port"
}

# start_redis_cluster DIR PORT1 PORT2 PORT3: three masters on loopback, slots spread by redis-cli.
start_redis_cluster() {
  local dir="$1"; shift
  local nodes=()
  for port in "$@"; do
    mkdir -p "$dir/$port"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/$port" --daemonize yes \
      --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
      --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 5000 \
      --appendonly yes --appendfsync everysec --save "" --protected-mode yes
    wait_until "Redis cluster node on port $port" 100 redis-cli -p "$port" ping
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 \
    || { cat "$dir/create.log" >&2; die "redis-cli --cluster create failed"; }
  wait_until "the Redis cluster" 150 bash -c "redis-cli -p $1 cluster info | grep -q cluster_state:ok"
  log "Redis Cluster on 127.0.0.1:$(IFS=,; echo "$*")"
}

stop_redis() {
  local port="$1"
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

# start_postgres DIR PORT: a PostgreSQL on 127.0.0.1:PORT, cluster in DIR, role and database
# "licensebroker" (trust authentication on loopback: a throw-away development server).
start_postgres() {
  local dir="$1" port="$2"
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
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
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
