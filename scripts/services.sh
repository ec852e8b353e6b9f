#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1 (ports 5432 and 6379):
# leaves running servers alone; otherwise starts them with docker compose
# where a Docker engine runs, else starts the locally installed servers,
# installing them with apt when they are missing. Idempotent.
set -euo pipefail

PGHOST=127.0.0.1 PGPORT=5432 REDISPORT=6379
say() { echo "services: $*" >&2; }

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null || (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null; }
redis_up() {
  if command -v redis-cli >/dev/null; then redis-cli -h "$PGHOST" -p "$REDISPORT" ping 2>/dev/null | grep -q PONG
  else (exec 3<>"/dev/tcp/$PGHOST/$REDISPORT") 2>/dev/null; fi
}
wait_for() { # name check
  for _ in $(seq 1 120); do "$2" && return 0; sleep 0.5; done
  say "$1 did not come up on 127.0.0.1"; return 1
}

if pg_up && redis_up; then exit 0; fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  say "starting storage and broker with docker compose"
  docker compose -f docker-compose.yml -f docker-compose.dev.yml up -d --wait storage broker
  wait_for PostgreSQL pg_up && wait_for Redis redis_up && exit 0
fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
  say "installing $* with apt"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    $SUDO pg_createcluster "$version" main >/dev/null
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Local development trusts loopback connections, as the tests expect.
  if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  wait_for PostgreSQL pg_up
fi

if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDISPORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/logagg.log
  wait_for Redis redis_up
fi
