#!/usr/bin/env bash
# scripts/services.sh - install, start, check and stop the brokers/databases that
# Causeway's integration tests and benchmarks talk to, on this machine, without Docker.
#
#   scripts/services.sh up     [service...]   install what is missing, start what is not running, wait until it answers
#   scripts/services.sh status [service...]   one line per service: name  up|down  address  version   (exit 1 if any is down)
#   scripts/services.sh down   [--force] [service...]   stop what this script started (--force: whatever listens there)
#   scripts/services.sh env                   print `export CAUSEWAY_*=...` lines for the addresses in use
#   scripts/services.sh kafka-topics ARGS...  run Kafka's TopicCommand against the local broker jars
#
# Services: postgres redis rabbitmq nats kafka moto pulsar (default: all, or $SERVICES="postgres redis").
# Everything listens on 127.0.0.1 only:
#   postgres  postgres://postgres:postgres@127.0.0.1:5432/causeway   Debian cluster <ver>/main (apt: postgresql)
#   redis     redis://127.0.0.1:6379                                 apt: redis-server
#   rabbitmq  amqp://guest:guest@127.0.0.1:5672 (mgmt :15672)        apt: rabbitmq-server
#   nats      nats://127.0.0.1:4222 (JetStream, monitor :8222)       apt: nats-server
#   kafka     127.0.0.1:9092 (KRaft controller :9093)                Maven Central jars, Java 17
#   moto      http://127.0.0.1:4566 (SQS/SNS)                        PyPI moto in .services/moto-venv
#   pulsar    http://127.0.0.1:8080 (admin + ws://…/ws/v2, binary :6650)  Maven Central jars, Java 17
#
# If CAUSEWAY_PG_URL / CAUSEWAY_REDIS_URL / CAUSEWAY_AMQP_URL / CAUSEWAY_NATS_URL /
# CAUSEWAY_KAFKA_BROKERS / CAUSEWAY_SQS_ENDPOINT / CAUSEWAY_PULSAR_URL is set, that service is not provisioned:
# `up` and `status` only check the given address.
#
# Project-local state lives in .services/ (git-ignored): logs/, run/ (pid files and
# "started by us" markers), redis/, nats/, kafka/ (jars + KRaft data), moto-venv/,
# pulsar/ (lib/ jars, conf/, data/ with the RocksDB metadata and the in-process bookie).
# PostgreSQL and RabbitMQ drop privileges to their own users, so their data stays in
# the Debian locations (/var/lib/postgresql, /var/lib/rabbitmq; logs in /var/log/...).
#
# Tunables: CAUSEWAY_KAFKA_VERSION (default 4.1.1), CAUSEWAY_MOTO_VERSION (5.2.5),
# CAUSEWAY_PULSAR_VERSION (4.0.7), PULSAR_MEM (heap and direct memory of the standalone JVM),
# CAUSEWAY_SERVICES_TIMEOUT (seconds to wait for each service, default 120),
# CAUSEWAY_RABBITMQ_MANAGEMENT=0 to skip the management plugin, KAFKA_HEAP_OPTS.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
HELPERS=$SCRIPT_DIR/services
STATE=$ROOT/.services
# A git worktree may link .services to the main checkout's: resolve the link, because the
# Pulsar bookie writes its data directory's absolute path into its cookie and refuses to start
# when the same data is later reached through another path.
if [[ -L $STATE ]]; then STATE=$(cd -P "$STATE" && pwd); fi
RUN=$STATE/run
LOGS=$STATE/logs

ALL_SERVICES=(postgres redis rabbitmq nats kafka moto pulsar)

DEFAULT_PG_URL=postgres://postgres:postgres@127.0.0.1:5432/causeway
DEFAULT_REDIS_URL=redis://127.0.0.1:6379
DEFAULT_AMQP_URL=amqp://guest:guest@127.0.0.1:5672
DEFAULT_NATS_URL=nats://127.0.0.1:4222
DEFAULT_KAFKA_BROKERS=127.0.0.1:9092
DEFAULT_SQS_ENDPOINT=http://127.0.0.1:4566
# Pulsar's web service: admin REST and the WebSocket API (ws://127.0.0.1:8080/ws/v2/...)
DEFAULT_PULSAR_URL=http://127.0.0.1:8080

KAFKA_VERSION=${CAUSEWAY_KAFKA_VERSION:-4.1.1}
MOTO_VERSION=${CAUSEWAY_MOTO_VERSION:-5.2.5}
# 4.0 is Pulsar's LTS line on Java 17; the registry here serves 4.0.7 with every module
# (4.0.8's jetcd-core-shaded is missing, 4.2+ needs Java 21).
PULSAR_VERSION=${CAUSEWAY_PULSAR_VERSION:-4.0.7}
# moto[server] drags in ~60 packages (cfn-lint, sympy, docker, ...); SQS/SNS need only these.
MOTO_PKGS=("moto[sqs,sns]==$MOTO_VERSION" flask flask-cors)
MOTO_SPEC="${MOTO_PKGS[*]}"
WAIT_TIMEOUT=${CAUSEWAY_SERVICES_TIMEOUT:-120}
RABBITMQ_MANAGEMENT=${CAUSEWAY_RABBITMQ_MANAGEMENT:-1}
RABBITMQ_NODE=rabbit@localhost
: "${KAFKA_HEAP_OPTS:=-Xms256m -Xmx1g}"
# broker + bookie in one JVM; the bookie's write/read caches and Netty live in direct memory
: "${PULSAR_MEM:=-Xms256m -Xmx768m -XX:MaxDirectMemorySize=512m}"

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '[services] %s\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------- addresses

env_var_of() {
  case $1 in
    postgres) echo CAUSEWAY_PG_URL ;;
    redis) echo CAUSEWAY_REDIS_URL ;;
    rabbitmq) echo CAUSEWAY_AMQP_URL ;;
    nats) echo CAUSEWAY_NATS_URL ;;
    kafka) echo CAUSEWAY_KAFKA_BROKERS ;;
    moto) echo CAUSEWAY_SQS_ENDPOINT ;;
    pulsar) echo CAUSEWAY_PULSAR_URL ;;
  esac
}

default_addr_of() {
  case $1 in
    postgres) echo "$DEFAULT_PG_URL" ;;
    redis) echo "$DEFAULT_REDIS_URL" ;;
    rabbitmq) echo "$DEFAULT_AMQP_URL" ;;
    nats) echo "$DEFAULT_NATS_URL" ;;
    kafka) echo "$DEFAULT_KAFKA_BROKERS" ;;
    moto) echo "$DEFAULT_SQS_ENDPOINT" ;;
    pulsar) echo "$DEFAULT_PULSAR_URL" ;;
  esac
}

# true if the user points this service elsewhere (then we never provision it)
is_external() { local v; v=$(env_var_of "$1"); [[ -n ${!v:-} ]]; }

addr_of() {
  local v; v=$(env_var_of "$1")
  if [[ -n ${!v:-} ]]; then echo "${!v}"; else default_addr_of "$1"; fi
}

canon_service() {
  case ${1,,} in
    postgres | postgresql | pg) echo postgres ;;
    redis) echo redis ;;
    rabbitmq | rabbit | amqp) echo rabbitmq ;;
    nats | jetstream) echo nats ;;
    kafka) echo kafka ;;
    moto | sqs | sns) echo moto ;;
    pulsar) echo pulsar ;;
    *) die "unknown service '$1' (known: ${ALL_SERVICES[*]})" ;;
  esac
}

# SELECTED=(...) from arguments, else $SERVICES, else all; kept in canonical order
select_services() {
  local raw=("$@") s want=()
  if ((${#raw[@]} == 0)) && [[ -n ${SERVICES:-} ]]; then read -r -a raw <<<"${SERVICES//,/ }"; fi
  if ((${#raw[@]} == 0)); then SELECTED=("${ALL_SERVICES[@]}"); return; fi
  for s in "${raw[@]}"; do want+=("$(canon_service "$s")"); done
  SELECTED=()
  for s in "${ALL_SERVICES[@]}"; do
    if [[ " ${want[*]} " == *" $s "* ]]; then SELECTED+=("$s"); fi
  done
}

# ----------------------------------------------------------------------------- probes

PY=
python() {
  if [[ -z $PY ]]; then
    # resolve pyenv shims once: each shim hop costs ~50 ms and probes run in loops
    PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=
    [[ -n $PY ]] || PY=$(command -v python3 || echo /usr/bin/python3)
  fi
  "$PY" "$@"
}

pg_version() {
  local d best=
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x $d ]] || continue
    d=${d#/usr/lib/postgresql/}; d=${d%%/*}
    if [[ -z $best ]] || ((d > best)); then best=$d; fi
  done
  echo "$best"
}

# probe SVC ADDR: print a version string and succeed if the service answers its protocol
probe() {
  local svc=$1 addr=$2
  case $svc in
    postgres)
      command -v psql >/dev/null || { echo "psql not installed" >&2; return 1; }
      PGCONNECT_TIMEOUT=3 timeout 10 psql "$addr" -XAtqc 'show server_version'
      ;;
    *) python "$HELPERS/probe.py" "$svc" "$addr" ;;
  esac
}

# quiet variant used in loops
probe_quiet() { probe "$1" "$2" 2>/dev/null; }

# where to look when a service does not come up
logfile_of() {
  case $1 in
    postgres) echo "/var/log/postgresql/postgresql-$(pg_version)-main.log" ;;
    rabbitmq) echo "/var/log/rabbitmq/$RABBITMQ_NODE.log (and $LOGS/rabbitmq-start.log)" ;;
    *) echo "$LOGS/$1.log" ;;
  esac
}

# wait_for SVC [PIDFILE]: poll until the service answers; fail after WAIT_TIMEOUT seconds,
# or as soon as the process in PIDFILE has exited.
wait_for() {
  local svc=$1 pidfile=${2:-} addr v deadline pid
  addr=$(addr_of "$svc")
  deadline=$((SECONDS + WAIT_TIMEOUT))
  while :; do
    if v=$(probe_quiet "$svc" "$addr"); then
      printf '%s\n' "$v" >"$RUN/$svc.version"
      return 0
    fi
    if [[ -n $pidfile ]]; then
      pid=$(cat "$pidfile" 2>/dev/null || true)
      if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
        fail_log "$svc" "process exited during startup"
      fi
    fi
    if ((SECONDS >= deadline)); then
      fail_log "$svc" "did not answer at $addr within ${WAIT_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

fail_log() {
  local svc=$1 msg=$2 lf
  lf=$(logfile_of "$svc")
  printf '[services] ERROR: %s: %s; see %s\n' "$svc" "$msg" "$lf" >&2
  lf=${lf%% *}
  if [[ -f $lf ]]; then
    printf '[services] --- last lines of %s ---\n' "$lf" >&2
    tail -n 15 "$lf" | sed 's/^/[services]   /' >&2
  fi
  exit 1
}

# spawn NAME CMD...: start CMD detached (own session, no tty, stdin closed), output to
# .services/logs/NAME.log (previous log kept as NAME.log.1), pid in .services/run/NAME.pid
spawn() {
  local name=$1 i
  shift
  local lf=$LOGS/$name.log pf=$RUN/$name.pid
  [[ -f $lf ]] && mv -f "$lf" "$lf.1"
  rm -f "$pf"
  # (fd 9 is the services.sh lock: daemons must not inherit it)
  # shellcheck disable=SC2016 # $$/$0/$@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pf" "$@" </dev/null >"$lf" 2>&1 9>&- &
  for i in $(seq 1 50); do [[ -s $pf ]] && return 0; sleep 0.1; done
  die "$name: could not start $1"
}

# ports_free SVC PORT...: fail early, naming the holder, if something else listens there
ports_free() {
  local svc=$1 port holder
  shift
  for port in "$@"; do
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true)
    if [[ -n $holder || -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]; then
      printf '[services] ERROR: %s: port %s is already taken by %s, which does not answer as %s\n' \
        "$svc" "$port" "${holder:-another process}" "$svc" >&2
      exit 1
    fi
  done
}

pid_alive() { local pid; pid=$(cat "$1" 2>/dev/null || true); [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

# ----------------------------------------------------------------------------- installation

# Debian packages needed by the services in "$@" that are not installed yet
missing_packages() {
  local s pkgs=()
  for s in "$@"; do
    case $s in
      postgres)
        [[ -n $(pg_version) ]] && command -v pg_ctlcluster >/dev/null || pkgs+=(postgresql)
        command -v psql >/dev/null || pkgs+=(postgresql-client)
        ;;
      redis) command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server redis-tools) ;;
      rabbitmq) [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || pkgs+=(rabbitmq-server) ;;
      nats) command -v nats-server >/dev/null || pkgs+=(nats-server) ;;
      kafka | pulsar)
        command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
        command -v mvn >/dev/null || pkgs+=(maven)
        ;;
      moto) python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3 python3-venv) ;;
    esac
  done
  echo "${pkgs[*]}"
}

apt_install() {
  local pkgs=("$@") created_policy=0 rc=0
  log "apt: installing ${pkgs[*]} (log: $LOGS/apt.log)..."
  # Keep the packages' maintainer scripts from starting daemons with stock config
  # (on 0.0.0.0, default node names...): we start them ourselves below.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created_policy=1
  fi
  {
    apt-get update -q &&
      apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=300 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}"
  } >"$LOGS/apt.log" 2>&1 || rc=$?
  ((created_policy)) && rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || { tail -n 20 "$LOGS/apt.log" | sed 's/^/[services]   /' >&2; die "apt-get install failed (exit $rc); see $LOGS/apt.log"; }
  log "apt: done"
}

# ----------------------------------------------------------------------------- postgres

PG_CONF_NAME=causeway.conf

pg_cluster_status() { # prints online|down|"" (no cluster)
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" '$1 == v && $2 == "main" { print $4 }'
}

up_postgres() {
  local ver conf_dir conf want status
  ver=$(pg_version)
  [[ -n $ver ]] || die "postgres: no server binaries under /usr/lib/postgresql"
  if [[ -z $(pg_cluster_status "$ver") ]]; then
    log "postgres: creating cluster $ver/main..."
    pg_createcluster "$ver" main -p 5432 >>"$LOGS/postgres-setup.log" 2>&1 ||
      die "postgres: pg_createcluster failed; see $LOGS/postgres-setup.log"
  fi
  conf_dir=/etc/postgresql/$ver/main/conf.d
  conf=$conf_dir/$PG_CONF_NAME
  want="# managed by Causeway scripts/services.sh
listen_addresses = '127.0.0.1'
port = 5432
max_connections = 300
"
  mkdir -p "$conf_dir"
  local changed=0
  if [[ ! -f $conf || "$(cat "$conf")"$'\n' != "$want" ]]; then
    printf '%s' "$want" >"$conf"
    chown postgres:postgres "$conf"
    changed=1
  fi
  # /var/run is not always persistent; pg_ctlcluster wants the socket dir to exist
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  status=$(pg_cluster_status "$ver")
  if [[ $status == online* ]]; then
    if ((changed)); then
      log "postgres: restarting cluster $ver/main to apply $conf..."
      pg_ctlcluster "$ver" main restart >>"$LOGS/postgres-setup.log" 2>&1 9>&- || fail_log postgres "pg_ctlcluster restart failed"
    fi
  else
    log "postgres: starting cluster $ver/main..."
    pg_ctlcluster "$ver" main start >>"$LOGS/postgres-setup.log" 2>&1 9>&- || fail_log postgres "pg_ctlcluster start failed"
    echo "$ver" >"$RUN/postgres.started"
  fi
  # wait for the local socket, then make the default URL work (idempotent)
  local deadline=$((SECONDS + WAIT_TIMEOUT))
  until (cd / && runuser -u postgres -- pg_isready -q -h /var/run/postgresql -p 5432); do
    ((SECONDS < deadline)) || fail_log postgres "not accepting connections on its socket within ${WAIT_TIMEOUT}s"
    sleep 0.3
  done
  local sql="ALTER ROLE postgres PASSWORD 'postgres';
SELECT 'CREATE DATABASE causeway' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'causeway')
\\gexec"
  printf '%s\n' "$sql" | (cd / && runuser -u postgres -- psql -XqAt -h /var/run/postgresql -p 5432 -v ON_ERROR_STOP=1) \
    >>"$LOGS/postgres-setup.log" 2>&1 ||
    fail_log postgres "could not set the postgres password / create database causeway (see also $LOGS/postgres-setup.log)"
  wait_for postgres
}

down_postgres() {
  local force=$1 ver
  ver=$(cat "$RUN/postgres.started" 2>/dev/null || true)
  if [[ -z $ver ]]; then
    ((force)) || { log "postgres: not started by services.sh; leaving it running (down --force stops it)"; return 0; }
    ver=$(pg_version)
  fi
  if [[ $(pg_cluster_status "$ver") == online* ]]; then
    log "postgres: stopping cluster $ver/main..."
    pg_ctlcluster "$ver" main stop -m fast >>"$LOGS/postgres-setup.log" 2>&1 || warn "postgres: pg_ctlcluster stop failed"
  fi
  rm -f "$RUN/postgres.started"
}

# ----------------------------------------------------------------------------- redis

up_redis() {
  mkdir -p "$STATE/redis"
  if ! pid_alive "$RUN/redis.pid"; then
    ports_free redis 6379
    log "redis: starting..."
    [[ -f $LOGS/redis.log ]] && mv -f "$LOGS/redis.log" "$LOGS/redis.log.1"
    rm -f "$RUN/redis.pid"
    # a test cache: no RDB snapshots, no AOF
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
      --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" --dir "$STATE/redis" \
      --save '' --appendonly no </dev/null >/dev/null 2>>"$LOGS/redis-start.log" 9>&- || fail_log redis "redis-server failed to start (stderr in $LOGS/redis-start.log)"
    local i
    for i in $(seq 1 50); do [[ -s $RUN/redis.pid ]] && break; sleep 0.1; done
  fi
  wait_for redis "$RUN/redis.pid"
}

# ----------------------------------------------------------------------------- rabbitmq

RABBIT_MARK="# managed by Causeway scripts/services.sh"

# write_managed FILE CONTENT: (re)write a config file we own; never clobber a foreign one
write_managed() {
  local f=$1 content=$2
  # (Debian's postinst drops a rabbitmq-env.conf with only comments in it: that one is fair game)
  if [[ -f $f ]] && ! head -n 3 "$f" | grep -qF "$RABBIT_MARK" && grep -qv '^[[:space:]]*\(#.*\)\{0,1\}$' "$f"; then
    warn "$f exists and was not written by services.sh; leaving it alone"
    return 0
  fi
  if [[ ! -f $f || "$(cat "$f")" != "$content" ]]; then printf '%s\n' "$content" >"$f"; fi
}

rabbitmq_configure() {
  mkdir -p /etc/rabbitmq
  write_managed /etc/rabbitmq/rabbitmq-env.conf "$RABBIT_MARK
# stable node name (the machine's hostname changes between sessions) and loopback-only Erlang ports
NODENAME=$RABBITMQ_NODE
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS=\"-kernel inet_dist_use_interface {127,0,0,1}\""
  write_managed /etc/rabbitmq/rabbitmq.conf "$RABBIT_MARK
listeners.tcp.default = 127.0.0.1:5672
management.tcp.ip = 127.0.0.1
management.tcp.port = 15672"
  local plugins='[].'
  ((RABBITMQ_MANAGEMENT)) && plugins='[rabbitmq_management].'
  # enabled_plugins is an Erlang term file: no comment marker possible, so only write ours
  if [[ ! -f /etc/rabbitmq/enabled_plugins || -f $RUN/rabbitmq.plugins-managed ]]; then
    printf '%s\n' "$plugins" >/etc/rabbitmq/enabled_plugins
    chown rabbitmq:rabbitmq /etc/rabbitmq/enabled_plugins 2>/dev/null || true
    touch "$RUN/rabbitmq.plugins-managed"
  fi
}

rabbitmq_node_running() { # the Erlang node is registered with epmd
  command -v epmd >/dev/null && ERL_EPMD_ADDRESS=127.0.0.1 epmd -names 2>/dev/null | grep -q "^name ${RABBITMQ_NODE%@*} "
}

up_rabbitmq() {
  rabbitmq_configure
  if ! rabbitmq_node_running; then
    ports_free rabbitmq 5672 25672
    log "rabbitmq: starting node $RABBITMQ_NODE..."
    install -d -o rabbitmq -g rabbitmq /var/log/rabbitmq /var/lib/rabbitmq
    (cd / && rabbitmq-server -detached) </dev/null >"$LOGS/rabbitmq-start.log" 2>&1 9>&- ||
      fail_log rabbitmq "rabbitmq-server -detached failed"
    touch "$RUN/rabbitmq.started"
  fi
  wait_for rabbitmq
}

down_rabbitmq() {
  local force=$1
  if [[ ! -f $RUN/rabbitmq.started ]] && ! ((force)); then
    log "rabbitmq: not started by services.sh; leaving it running (down --force stops it)"
    return 0
  fi
  if rabbitmq_node_running; then
    log "rabbitmq: stopping..."
    # (a node started with Debian's default name rabbit@<hostname> is stopped too)
    (cd / && { timeout 60 rabbitmqctl -n "$RABBITMQ_NODE" stop ||
      timeout 60 rabbitmqctl -n "rabbit@$(hostname -s)" stop; }) >>"$LOGS/rabbitmq-start.log" 2>&1 ||
      warn "rabbitmq: rabbitmqctl stop failed; see $LOGS/rabbitmq-start.log"
    local i
    for i in $(seq 1 60); do rabbitmq_node_running || break; sleep 0.5; done
  fi
  # epmd was started by the node; stop it if nothing else is registered
  if command -v epmd >/dev/null && ! ERL_EPMD_ADDRESS=127.0.0.1 epmd -names 2>/dev/null | grep -q '^name '; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
  fi
  rm -f "$RUN/rabbitmq.started"
}

# ----------------------------------------------------------------------------- nats

up_nats() {
  mkdir -p "$STATE/nats"
  if ! pid_alive "$RUN/nats.pid"; then
    ports_free nats 4222 8222
    log "nats: starting (JetStream store $STATE/nats)..."
    spawn nats nats-server --addr 127.0.0.1 --port 4222 --http_port 8222 \
      --server_name causeway --jetstream --store_dir "$STATE/nats"
  fi
  wait_for nats "$RUN/nats.pid"
}

# ----------------------------------------------------------------------------- kafka

KAFKA_DIR=$STATE/kafka

kafka_fetch() {
  local jars=$KAFKA_DIR/jars
  [[ -f $jars/.version && $(cat "$jars/.version") == "$KAFKA_VERSION" ]] && return 0
  log "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central (log: $LOGS/kafka-fetch.log)..."
  rm -rf "$jars.tmp"
  mvn -B -f "$HELPERS/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$jars.tmp" \
    >"$LOGS/kafka-fetch.log" 2>&1 || fail_log kafka-fetch "mvn dependency:copy-dependencies failed"
  echo "$KAFKA_VERSION" >"$jars.tmp/.version"
  rm -rf "$jars"
  mv "$jars.tmp" "$jars"
}

kafka_configure() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# generated by scripts/services.sh - single-node KRaft broker+controller for tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# consumer groups in tests should not wait 3 s for more members
group.initial.rebalance.delay.ms=0
EOF
  cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
  cat >"$KAFKA_DIR/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF
}

# kafka_java_cmd HEAP_OPTS LOG4J2_FILE: sets KJ=(java ... -cp jars/*) for the broker and its tools
kafka_java_cmd() {
  local heap
  read -r -a heap <<<"$1"
  KJ=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=file:$2" -cp "$KAFKA_DIR/jars/*")
}

kafka_cluster_id() { # 16 random bytes, base64url without padding, as kafka-storage random-uuid
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id != -* ]] && { echo "$id"; return; }
  done
}

up_kafka() {
  if pid_alive "$RUN/kafka.pid"; then wait_for kafka "$RUN/kafka.pid"; return; fi
  ports_free kafka 9092 9093
  kafka_fetch
  kafka_configure
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    log "kafka: formatting KRaft storage $KAFKA_DIR/data..."
    kafka_java_cmd "-Xmx256m" "$KAFKA_DIR/tools-log4j2.properties"
    "${KJ[@]}" kafka.tools.StorageTool format \
      -t "$(kafka_cluster_id)" -c "$KAFKA_DIR/server.properties" >"$LOGS/kafka-format.log" 2>&1 ||
      fail_log kafka-format "kafka.tools.StorageTool format failed"
  fi
  log "kafka: starting broker $KAFKA_VERSION (Java $(java -version 2>&1 | awk -F'"' 'NR==1{print $2}'))..."
  kafka_java_cmd "$KAFKA_HEAP_OPTS" "$KAFKA_DIR/log4j2.properties"
  spawn kafka "${KJ[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
  wait_for kafka "$RUN/kafka.pid"
}

# ----------------------------------------------------------------------------- moto

MOTO_VENV=$STATE/moto-venv

up_moto() {
  if pid_alive "$RUN/moto.pid"; then wait_for moto "$RUN/moto.pid"; return; fi
  ports_free moto 4566
  if [[ ! -x $MOTO_VENV/bin/moto_server || $(cat "$MOTO_VENV/.causeway-spec" 2>/dev/null) != "$MOTO_SPEC" ]]; then
    log "moto: installing $MOTO_SPEC into .services/moto-venv (log: $LOGS/moto-install.log)..."
    rm -rf "$MOTO_VENV"
    {
      python -m venv "$MOTO_VENV" &&
        "$MOTO_VENV/bin/pip" install -q --disable-pip-version-check "${MOTO_PKGS[@]}"
    } >"$LOGS/moto-install.log" 2>&1 || fail_log moto-install "pip install failed"
    "$MOTO_VENV/bin/python" -c 'import moto; print(moto.__version__)' >"$MOTO_VENV/.moto-version"
    echo "$MOTO_SPEC" >"$MOTO_VENV/.causeway-spec"
  fi
  log "moto: starting moto_server $(cat "$MOTO_VENV/.moto-version" 2>/dev/null)..."
  spawn moto "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p 4566
  wait_for moto "$RUN/moto.pid"
}

# ----------------------------------------------------------------------------- pulsar

PULSAR_DIR=$STATE/pulsar

pulsar_fetch() {
  local lib=$PULSAR_DIR/lib
  [[ -f $lib/.version && $(cat "$lib/.version") == "$PULSAR_VERSION" ]] && return 0
  log "pulsar: fetching org.apache.pulsar:pulsar-broker:$PULSAR_VERSION from Maven Central (log: $LOGS/pulsar-fetch.log)..."
  rm -rf "$lib.tmp"
  mvn -B -s "$HELPERS/pulsar/settings.xml" -f "$HELPERS/pulsar/pom.xml" -Dpulsar.version="$PULSAR_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib.tmp" \
    >"$LOGS/pulsar-fetch.log" 2>&1 || fail_log pulsar-fetch "mvn dependency:copy-dependencies failed"
  echo "$PULSAR_VERSION" >"$lib.tmp/.version"
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
}

pulsar_configure() {
  mkdir -p "$PULSAR_DIR/conf" "$PULSAR_DIR/data"
  # One file configures both the broker (ServiceConfiguration) and the in-process bookie
  # (BookKeeper ServerConfiguration): standalone loads it twice.
  cat >"$PULSAR_DIR/conf/standalone.conf" <<EOF
# generated by scripts/services.sh - single-node Pulsar for tests: broker, bookie and
# WebSocket service in one JVM, metadata in RocksDB (no ZooKeeper), loopback only
clusterName=standalone
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
brokerServicePort=6650
webServicePort=8080
webSocketServiceEnabled=true
functionsWorkerEnabled=false
transactionCoordinatorEnabled=false
allowAutoTopicCreation=true
allowAutoTopicCreationType=non-partitioned
# tests create many short-lived topics and delete them in their cleanup
brokerDeleteInactiveTopicsEnabled=false
managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
managedLedgerCacheSizeMB=64
# delayed delivery (retries use deliverAfter) is checked every 100 ms instead of every second
delayedDeliveryTickTimeMillis=100
brokerShutdownTimeoutMs=10000
narExtractionDirectory=$PULSAR_DIR/data/nar
# bookie: loopback only, on a fixed port - its address is its identity in the ledger
# metadata, so a bookie on a new port after a restart could not read its own ledgers
# (standalone honours --bookkeeper-port only with allowEphemeralPorts=true)
listeningInterface=lo
allowLoopback=true
allowEphemeralPorts=true
httpServerEnabled=false
journalSyncData=false
dbStorage_writeCacheMaxSizeMb=32
dbStorage_readAheadCacheMaxSizeMb=32
dbStorage_rocksDB_blockCacheSize=16777216
EOF
  cat >"$PULSAR_DIR/conf/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
EOF
}

up_pulsar() {
  if pid_alive "$RUN/pulsar.pid"; then wait_for pulsar "$RUN/pulsar.pid"; return; fi
  ports_free pulsar 8080 6650 3181
  pulsar_fetch
  pulsar_configure
  local mem
  read -r -a mem <<<"$PULSAR_MEM"
  log "pulsar: starting standalone $PULSAR_VERSION (Java $(java -version 2>&1 | awk -F'"' 'NR==1{print $2}'))..."
  # The --add-opens are those of Pulsar's own bin/pulsar for Java 17 (Netty, load reports).
  # Relative paths in the broker's defaults (interceptors, offloaders) resolve under data/.
  spawn pulsar env -C "$PULSAR_DIR/data" java "${mem[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dio.netty.tryReflectionSetAccessible=true \
    -Dpulsar.allocator.exit_on_oom=true \
    --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED --add-opens java.base/sun.net=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.platform=ALL-UNNAMED \
    --add-opens java.management/sun.management=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    "-Dlog4j2.configurationFile=file:$PULSAR_DIR/conf/log4j2.properties" -cp "$PULSAR_DIR/lib/*" \
    org.apache.pulsar.PulsarStandaloneStarter --config "$PULSAR_DIR/conf/standalone.conf" \
    --no-functions-worker --no-stream-storage --advertised-address 127.0.0.1 --bookkeeper-port 3181 \
    --metadata-dir "$PULSAR_DIR/data/metadata" --bookkeeper-dir "$PULSAR_DIR/data/bookkeeper"
  wait_for pulsar "$RUN/pulsar.pid"
}

# ----------------------------------------------------------------------------- generic stop

# port a locally provisioned service listens on (for down --force)
port_of() {
  case $1 in redis) echo 6379 ;; nats) echo 4222 ;; kafka) echo 9092 ;; moto) echo 4566 ;; pulsar) echo 8080 ;; esac
}

stop_pidfile() { # stop_pidfile SVC FORCE
  local svc=$1 force=$2 pf=$RUN/$1.pid pid i pids=()
  pid=$(cat "$pf" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    pids=("$pid")
  elif ((force)); then
    mapfile -t pids < <(ss -Hltnp "sport = :$(port_of "$svc")" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
  fi
  if ((${#pids[@]} == 0)); then
    if [[ -n $(ss -Hltn "sport = :$(port_of "$svc")" 2>/dev/null) ]]; then
      log "$svc: not started by services.sh; leaving it running (down --force stops it)"
    else
      log "$svc: not running"
    fi
    rm -f "$pf"
    return 0
  fi
  log "$svc: stopping (pid ${pids[*]})..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 1 60); do # Kafka's controlled shutdown and Pulsar's take a few seconds
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "${pids[@]}" 2>/dev/null; then
    warn "$svc: still running after 30 s, sending SIGKILL"
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  rm -f "$pf"
}

# ----------------------------------------------------------------------------- commands

lock_state() {
  mkdir -p "$RUN" "$LOGS"
  exec 9>"$STATE/.lock"
  flock -w 900 9 || die "another services.sh is still running (lock $STATE/.lock)"
}

cmd_up() {
  select_services "$@"
  lock_state
  local t0=$EPOCHREALTIME s addr v todo=() native=() deferred=() pids=() names=() failed=() pkgs tmp i
  # probe everything in parallel first: a warm `up` is then a few hundred ms
  tmp=$(mktemp -d)
  python >/dev/null -c '' # resolve the interpreter once, before forking
  for i in "${!SELECTED[@]}"; do
    s=${SELECTED[$i]}
    probe_quiet "$s" "$(addr_of "$s")" >"$tmp/$i" &
    pids+=($!)
  done
  for i in "${!SELECTED[@]}"; do
    s=${SELECTED[$i]}
    addr=$(addr_of "$s")
    if wait "${pids[$i]}"; then v=$(cat "$tmp/$i"); else v=; fi
    if is_external "$s"; then
      if [[ -n $v ]]; then
        log "$s: using $addr from \$$(env_var_of "$s") ($v); not provisioning"
      else
        warn "$s: \$$(env_var_of "$s")=$addr does not answer; not provisioning it (unset the variable to use a local one)"
        failed+=("$s")
      fi
    elif [[ -n $v ]]; then
      log "$s: already up at $addr ($v)"
    else
      todo+=("$s")
    fi
  done
  rm -rf "$tmp"
  pids=()
  if ((${#todo[@]} == 0)); then
    ((${#failed[@]} == 0)) || die "not reachable: ${failed[*]}"
    log "nothing to do, all up ($(elapsed "$t0"))"
    return 0
  fi

  pkgs=$(missing_packages "${todo[@]}")
  # Kafka, Pulsar and moto do not need apt unless their toolchain is missing: start them right away
  for s in "${todo[@]}"; do
    case $s in
      kafka | moto | pulsar)
        if [[ -z $pkgs || -z $(missing_packages "$s") ]]; then
          up_"$s" &
          pids+=($!) names+=("$s")
        else
          deferred+=("$s")
        fi
        ;;
      *) native+=("$s") ;;
    esac
  done
  if [[ -n $pkgs ]]; then
    # shellcheck disable=SC2086
    (apt_install $pkgs) || {
      for v in "${pids[@]}"; do wait "$v" || true; done
      die "could not install packages for: ${todo[*]}"
    }
  fi
  for s in "${native[@]}" "${deferred[@]}"; do
    up_"$s" &
    pids+=($!) names+=("$s")
  done
  local i
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      log "${names[$i]}: up at $(addr_of "${names[$i]}") ($(cat "$RUN/${names[$i]}.version" 2>/dev/null || echo '?'))"
    else
      failed+=("${names[$i]}")
    fi
  done
  if ((${#failed[@]})); then
    die "FAILED: ${failed[*]} ($(elapsed "$t0"))"
  fi
  log "all requested services up in $(elapsed "$t0") (connection settings: scripts/services.sh env)"
}

cmd_down() {
  local force=0 args=() s pids=()
  for s in "$@"; do
    case $s in --force | -f) force=1 ;; *) args+=("$s") ;; esac
  done
  select_services "${args[@]+"${args[@]}"}"
  lock_state
  for s in "${SELECTED[@]}"; do
    if is_external "$s"; then
      log "$s: \$$(env_var_of "$s") is set; not touching $(addr_of "$s")"
      continue
    fi
    case $s in
      postgres) down_postgres "$force" & ;;
      rabbitmq) down_rabbitmq "$force" & ;;
      *) stop_pidfile "$s" "$force" & ;;
    esac
    pids+=($!)
  done
  local rc=0
  for s in "${pids[@]}"; do wait "$s" || rc=1; done
  return $rc
}

version_note() { # extra words for the status line
  local svc=$1 v=$2
  case $svc in
    nats) [[ $v == 2.9.* ]] && v="$v [Debian 12 ships 2.9]" ;;
    kafka)
      if ! is_external kafka && [[ -f $KAFKA_DIR/jars/.version ]]; then
        v="$(cat "$KAFKA_DIR/jars/.version") (KRaft, $v)"
      fi
      ;;
    moto)
      if ! is_external moto && [[ -f $MOTO_VENV/.moto-version ]]; then
        v="moto $(cat "$MOTO_VENV/.moto-version") ($v)"
      fi
      ;;
    pulsar) is_external pulsar || v="$v, standalone" ;;
  esac
  echo "$v"
}

cmd_status() {
  select_services "$@"
  mkdir -p "$RUN"
  local s addr v rc=0 pids=() i tmp
  tmp=$(mktemp -d)
  # probe in parallel: a down service costs a connect timeout
  for i in "${!SELECTED[@]}"; do
    s=${SELECTED[$i]}
    (
      addr=$(addr_of "$s")
      if v=$(probe_quiet "$s" "$addr"); then
        printf '%-9s %-5s %-52s %s\n' "$s" up "$addr" "$(version_note "$s" "$v")"
      else
        printf '%-9s %-5s %-52s %s\n' "$s" down "$addr" "-"
        exit 1
      fi
    ) >"$tmp/$i" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || rc=1; done
  for i in "${!SELECTED[@]}"; do cat "$tmp/$i"; done
  rm -rf "$tmp"
  return $rc
}

cmd_env() {
  local s v
  for s in "${ALL_SERVICES[@]}"; do
    v=$(env_var_of "$s")
    printf 'export %s=%q\n' "$v" "$(addr_of "$s")"
  done
}

cmd_kafka_topics() {
  [[ -f $KAFKA_DIR/jars/.version ]] || die "kafka jars not fetched yet: run scripts/services.sh up kafka"
  local bs=()
  [[ " $* " == *" --bootstrap-server "* ]] || bs=(--bootstrap-server "$(addr_of kafka)")
  kafka_configure
  kafka_java_cmd "-Xmx256m" "$KAFKA_DIR/tools-log4j2.properties"
  "${KJ[@]}" org.apache.kafka.tools.TopicCommand "${bs[@]}" "$@"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down | stop) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env ;;
    kafka-topics) cmd_kafka_topics "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
