#!/usr/bin/env bash
# Install (if missing) and run the real servers on loopback, without Docker:
#   Apache Kafka (single KRaft node, jars from Maven Central), PostgreSQL, Redis, Prometheus (Debian packages).
#   Alertmanager (Debian package) receives Prometheus's alerts and delivers them to a webhook.
# Usage: deploy/stack.sh {install|start|stop|status|env} [kafka|postgres|redis|alertmanager|prometheus]...
# Idempotent: start on a running service only re-checks its health. State lives under one folder
# (BADBUZZ_STACK_DIR, default .stack/ in the repository). Ports are set by the variables below.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
STACK=${BADBUZZ_STACK_DIR:-$ROOT/.stack}
KAFKA_VERSION=${BADBUZZ_KAFKA_VERSION:-3.9.1}
KAFKA_PORT=${BADBUZZ_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${BADBUZZ_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_SASL_PORT=${BADBUZZ_KAFKA_SASL_PORT:-19094}  # SASL_SSL: SCRAM-SHA-512 over TLS
PG_PORT=${BADBUZZ_PG_PORT:-15432}
REDIS_PORT=${BADBUZZ_REDIS_PORT:-16379}
PROM_PORT=${BADBUZZ_PROM_PORT:-19090}
SCRAPE_INTERVAL=${BADBUZZ_SCRAPE_INTERVAL:-2s}
AM_PORT=${BADBUZZ_AM_PORT:-19095}  # not 19093: that is Kafka's controller
# Where Alertmanager delivers: the communications team's and the operators' webhooks (a Slack relay, an
# incident tool). The defaults are a loopback port that nothing listens on until you (or the tests) do.
AM_WEBHOOK_URL=${BADBUZZ_AM_WEBHOOK_URL:-http://127.0.0.1:19096/alertmanager/comms}
AM_OPS_WEBHOOK_URL=${BADBUZZ_AM_OPS_WEBHOOK_URL:-http://127.0.0.1:19096/alertmanager/ops}
AM_GROUP_WAIT=${BADBUZZ_AM_GROUP_WAIT:-10s}
AM_GROUP_INTERVAL=${BADBUZZ_AM_GROUP_INTERVAL:-1m}
ALL=(kafka postgres redis alertmanager prometheus)  # Alertmanager before Prometheus, which sends to it

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {  # wait_for SECONDS DESCRIPTION PIDFILE|- COMMAND...: fails fast when the process dies
  local deadline=$((SECONDS + $1)) what=$2 pidfile=$3; shift 3
  until "$@" >/dev/null 2>&1; do
    [ "$pidfile" = - ] || alive "$pidfile" || die "$what exited during start-up (see its log under $STACK)"
    [ $SECONDS -lt $deadline ] || die "$what did not become healthy in time (see its log under $STACK)"
    sleep 0.5
  done
}

apt_install() {  # apt_install PACKAGE... (only what is missing; never starts services)
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]}: run as root or apt-get install them"
  log "installing ${missing[*]}"
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  rm -f /usr/sbin/policy-rc.d
}

# ---------------------------------------------------------------- secrets
# Every password is generated on first use into $STACK/secrets.env (mode 600) and never written in the
# repository; `deploy/stack.sh env` prints URLs that carry them.
SECRETS=$STACK/secrets.env
secret() {  # secret NAME: the stack's value for NAME, generated once
  local name=$1 value
  mkdir -p "$STACK"
  if [ -f "$SECRETS" ] && value=$(grep -m1 "^$name=" "$SECRETS" | cut -d= -f2-) && [ -n "$value" ]; then
    printf '%s' "$value"; return 0
  fi
  value=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077; printf '%s=%s\n' "$name" "$value" >> "$SECRETS")
  printf '%s' "$value"
}

# ---------------------------------------------------------------- Kafka (KRaft)
KDIR=$STACK/kafka
kafka_install() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  [ -f "$KDIR/libs/.complete-$KAFKA_VERSION" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central"
  rm -rf "$KDIR/libs"; mkdir -p "$KDIR/libs"
  sed "s#<version>3.9.1</version>#<version>$KAFKA_VERSION</version>#" "$HERE/kafka/pom.xml" > "$KDIR/pom.xml"
  mvn -q -B -f "$KDIR/pom.xml" dependency:copy-dependencies -DoutputDirectory="$KDIR/libs" -DincludeScope=runtime
  touch "$KDIR/libs/.complete-$KAFKA_VERSION"
}
kafka_healthy() { port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$KDIR/logs/server.log"; }
kafka_tls() {  # the stack's CA and the broker's certificate (for localhost / 127.0.0.1), made once
  local tls=$KDIR/tls
  [ -f "$tls/broker.p12" ] && return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$tls"; chmod 700 "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=badbuzz-stack-ca" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 825 \
    -extfile "$tls/ext.cnf" -out "$tls/broker.pem" 2>/dev/null
  openssl pkcs12 -export -in "$tls/broker.pem" -inkey "$tls/broker.key" -name broker \
    -passout "pass:$(secret BADBUZZ_KAFKA_KEYSTORE_PASSWORD)" -out "$tls/broker.p12"
  chmod 600 "$tls"/*.key "$tls/broker.p12"
}
kafka_scram_user() {  # the badbuzz SCRAM-SHA-512 user, (re)set through the running broker's admin API
  "${jvm[@]}" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter --entity-type users \
    --entity-name badbuzz --add-config "SCRAM-SHA-512=[iterations=8192,password=$(secret BADBUZZ_KAFKA_PASSWORD)]" \
    >/dev/null
}
kafka_start() {
  if alive "$KDIR/kafka.pid" && kafka_healthy; then return 0; fi
  kafka_install
  mkdir -p "$KDIR/data" "$KDIR/logs"
  kafka_tls
  (umask 077; sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    -e "s#@SASL_PORT@#$KAFKA_SASL_PORT#g" -e "s#@DATA@#$KDIR/data#g" -e "s#@KEYSTORE@#$KDIR/tls/broker.p12#g" \
    -e "s#@KEYSTORE_PASSWORD@#$(secret BADBUZZ_KAFKA_KEYSTORE_PASSWORD)#g" \
    "$HERE/kafka/server.properties.in" > "$KDIR/server.properties")
  jvm=(java -Xms256m -Xmx768m -Dkafka.logs.dir="$KDIR/logs" -Dlog4j.configuration="file:$HERE/kafka/log4j.properties"
       -cp "$KDIR/libs/*")
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    local cid; cid=$("${jvm[@]}" kafka.tools.StorageTool random-uuid | tail -n1)
    "${jvm[@]}" kafka.tools.StorageTool format -t "$cid" -c "$KDIR/server.properties" >/dev/null
  fi
  : > "$KDIR/logs/server.log"
  nohup "${jvm[@]}" kafka.Kafka "$KDIR/server.properties" > "$KDIR/logs/stdout.log" 2>&1 &
  echo $! > "$KDIR/kafka.pid"
  wait_for 90 "Kafka on 127.0.0.1:$KAFKA_PORT" "$KDIR/kafka.pid" kafka_healthy
  kafka_scram_user
}
kafka_stop() { stop_pid "$KDIR/kafka.pid" Kafka; }

# ---------------------------------------------------------------- PostgreSQL
PGD=$STACK/postgres
pg_resolve_dir() {
  # As root the server runs as the postgres user, which cannot reach a checkout under a private folder:
  # then its data lives beside other system state instead, one folder per stack.
  PGD=$STACK/postgres
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STACK" 2>/dev/null; then
    PGD=/var/lib/badbuzz-stack/$(printf '%s' "$STACK" | sha1sum | cut -c1-12)/postgres
  fi
}
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_healthy() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U badbuzz; }
postgres_install() { [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || apt_install postgresql; }
postgres_start() {
  postgres_install
  pg_resolve_dir
  local bin; bin=$(pg_bin)
  if pg_healthy 2>/dev/null; then return 0; fi
  mkdir -p "$PGD"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PGD"; fi
  if [ ! -f "$PGD/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$PGD/data" -U badbuzz --auth=trust -E UTF8 >/dev/null
  fi
  # TCP connections need the generated password (scram-sha-256); the Unix socket lives in the stack's own
  # folder, reachable only by this user and root, and stays trust so this script can set the passwords.
  printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 scram-sha-256" "host all all ::1/128 scram-sha-256" \
    | as_pg tee "$PGD/data/pg_hba.conf" >/dev/null
  as_pg "$bin/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $PGD -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
  wait_for 60 "PostgreSQL on 127.0.0.1:$PG_PORT" - pg_healthy
  as_pg "$bin/pg_ctl" -D "$PGD/data" reload >/dev/null  # a running server picks up pg_hba.conf
  local psql=("$bin/psql" -h "$PGD" -p "$PG_PORT" -U badbuzz -d postgres -q -v ON_ERROR_STOP=1)
  "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='badbuzz'" | grep -q 1 ||
    "${psql[@]}" -c "CREATE DATABASE badbuzz"
  "${psql[@]}" -v pw="$(secret BADBUZZ_PG_PASSWORD)" >/dev/null <<'SQL'
ALTER ROLE badbuzz PASSWORD :'pw';
SQL
  # the read-only role the dashboards use
  "${psql[@]}" -v reader_password="$(secret BADBUZZ_READER_PASSWORD)" -f "$HERE/postgres/reader.sql" >/dev/null
}
postgres_stop() {
  pg_resolve_dir
  local bin; bin=$(pg_bin)
  [ -f "$PGD/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$PGD/data" -m fast -w stop >/dev/null || true
}

# ---------------------------------------------------------------- Redis
RD=$STACK/redis
rcli() { REDISCLI_AUTH="$(secret BADBUZZ_REDIS_PASSWORD)" redis-cli --no-auth-warning --user badbuzz \
  -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_healthy() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }
redis_start() {
  command -v redis-server >/dev/null || apt_install redis-server
  if redis_healthy; then return 0; fi
  port_open "$REDIS_PORT" && die "something else (a Redis without the stack's password?) listens on $REDIS_PORT"
  mkdir -p "$RD"
  # ACL: the default user is off; one user, badbuzz, with the generated password (given in a file, not argv)
  (umask 077; printf 'user default off\nuser badbuzz on >%s ~* &* +@all\n' "$(secret BADBUZZ_REDIS_PASSWORD)" \
    > "$RD/users.acl")
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RD" --daemonize yes --pidfile "$RD/redis.pid" \
    --logfile "$RD/redis.log" --appendonly yes --protected-mode yes --aclfile "$RD/users.acl"
  wait_for 30 "Redis on 127.0.0.1:$REDIS_PORT" - redis_healthy
}
redis_stop() { redis_healthy && rcli shutdown nosave >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------- Alertmanager
AMD=$STACK/alertmanager
am_healthy() { curl -fsS "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1; }
alertmanager_start() {
  command -v prometheus-alertmanager >/dev/null || apt_install prometheus-alertmanager
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$AMD/data"
  sed -e "s#@WEBHOOK_URL@#$AM_WEBHOOK_URL#g" -e "s#@OPS_WEBHOOK_URL@#$AM_OPS_WEBHOOK_URL#g" \
    -e "s#@GROUP_WAIT@#$AM_GROUP_WAIT#g" -e "s#@GROUP_INTERVAL@#$AM_GROUP_INTERVAL#g" \
    "$HERE/alertmanager/alertmanager.yml.in" > "$AMD/alertmanager.yml"
  amtool check-config "$AMD/alertmanager.yml" >/dev/null || die "invalid $AMD/alertmanager.yml"
  if alive "$AMD/alertmanager.pid" && am_healthy; then  # running: pick up routing changes
    kill -HUP "$(cat "$AMD/alertmanager.pid")"; return 0
  fi
  # --cluster.listen-address= turns gossip off: one node, and no port opened beyond the API.
  nohup prometheus-alertmanager --config.file="$AMD/alertmanager.yml" --storage.path="$AMD/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= > "$AMD/alertmanager.log" 2>&1 &
  echo $! > "$AMD/alertmanager.pid"
  wait_for 60 "Alertmanager on 127.0.0.1:$AM_PORT" "$AMD/alertmanager.pid" am_healthy
}
alertmanager_stop() { stop_pid "$AMD/alertmanager.pid" Alertmanager; }

# ---------------------------------------------------------------- Prometheus
PD=$STACK/prometheus
prom_healthy() { curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; }
prometheus_start() {
  command -v prometheus >/dev/null || apt_install prometheus
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$PD/data" "$PD/targets"
  sed -e "s#@PORT@#$PROM_PORT#g" -e "s#@TARGETS@#$PD/targets#g" -e "s#@SCRAPE_INTERVAL@#$SCRAPE_INTERVAL#g" \
    -e "s#@RULES@#$HERE/prometheus/rules#g" -e "s#@AM_PORT@#$AM_PORT#g" \
    "$HERE/prometheus/prometheus.yml.in" > "$PD/prometheus.yml"
  if alive "$PD/prometheus.pid" && prom_healthy; then  # running: pick up config and rule changes (SIGHUP;
    kill -HUP "$(cat "$PD/prometheus.pid")"; return 0  # the HTTP lifecycle API stays off)
  fi
  nohup prometheus --config.file="$PD/prometheus.yml" --storage.tsdb.path="$PD/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" > "$PD/prometheus.log" 2>&1 &
  echo $! > "$PD/prometheus.pid"
  wait_for 60 "Prometheus on 127.0.0.1:$PROM_PORT" "$PD/prometheus.pid" prom_healthy
}
prometheus_stop() { stop_pid "$PD/prometheus.pid" Prometheus; }

stop_pid() {
  local pidfile=$1 name=$2
  if alive "$pidfile"; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 60); do alive "$pidfile" || break; sleep 0.5; done
    alive "$pidfile" && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$pidfile"
}

status_of() {
  case $1 in
    kafka) kafka_healthy 2>/dev/null ;;
    postgres) [ -n "$(pg_bin)" ] && pg_healthy 2>/dev/null ;;
    redis) command -v redis-cli >/dev/null && redis_healthy ;;
    prometheus) prom_healthy ;;
    alertmanager) am_healthy ;;
  esac
}

print_env() {
  cat <<ENV
export BADBUZZ_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export BADBUZZ_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$KAFKA_SASL_PORT
export BADBUZZ_KAFKA_SASL_PASSWORD=$(secret BADBUZZ_KAFKA_PASSWORD)
export BADBUZZ_KAFKA_CA_FILE=$KDIR/tls/ca.pem
export BADBUZZ_DATABASE_URL=postgresql+psycopg://badbuzz:$(secret BADBUZZ_PG_PASSWORD)@127.0.0.1:$PG_PORT/badbuzz
export BADBUZZ_READER_DATABASE_URL=postgresql://badbuzz_reader:$(secret BADBUZZ_READER_PASSWORD)@127.0.0.1:$PG_PORT/badbuzz
export BADBUZZ_REDIS_URL=redis://badbuzz:$(secret BADBUZZ_REDIS_PASSWORD)@127.0.0.1:$REDIS_PORT/0
export BADBUZZ_PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
export BADBUZZ_PROMETHEUS_TARGETS=$PD/targets
export BADBUZZ_ALERTMANAGER_URL=http://127.0.0.1:$AM_PORT
export BADBUZZ_AM_WEBHOOK_URL=$AM_WEBHOOK_URL
export BADBUZZ_AM_OPS_WEBHOOK_URL=$AM_OPS_WEBHOOK_URL
export BADBUZZ_TOPICS_FILE=\${BADBUZZ_TOPICS_FILE:-$ROOT/stream/examples/air-paradis-topics.json}
export BADBUZZ_ALERT_TOPICS=\${BADBUZZ_ALERT_TOPICS:-air-paradis,delays,baggage}
ENV
}

cmd=${1:-status}; shift || true
services=("$@"); [ ${#services[@]} -eq 0 ] && services=("${ALL[@]}")
mkdir -p "$STACK"
case $cmd in
  install) for s in "${services[@]}"; do case $s in
             kafka) kafka_install ;; postgres) postgres_install ;;
             redis) command -v redis-server >/dev/null || apt_install redis-server ;;
             prometheus) command -v prometheus >/dev/null || apt_install prometheus ;;
             alertmanager) command -v prometheus-alertmanager >/dev/null || apt_install prometheus-alertmanager ;;
             # not a server: the headless browser the live page's integration test drives
             chromium) command -v chromedriver >/dev/null || apt_install chromium chromium-driver fonts-dejavu-core ;;
             *) die "unknown service $s" ;; esac; done ;;
  start) for s in "${services[@]}"; do log "starting $s"; "${s}_start"; log "$s is up"; done ;;
  stop) for s in "${services[@]}"; do "${s}_stop"; done ;;
  status) rc=0; for s in "${services[@]}"; do
            if status_of "$s"; then echo "$s: up"; else echo "$s: down"; rc=3; fi; done; exit $rc ;;
  env) print_env ;;
  *) die "usage: $0 {install|start|stop|status|env} [kafka|postgres|redis|alertmanager|prometheus]..." ;;
esac
