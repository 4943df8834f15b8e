#!/usr/bin/env bash
# Runs a command with a throw-away redis-server on loopback, exported as METAREC_REDIS_URL
# (installs Debian's redis-server when missing); stops it afterwards, whatever the command's fate.
#   usage: scripts/with-redis.sh COMMAND [ARGS...]
set -euo pipefail
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt-get)" >&2
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/metarec-redis.XXXXXX")
port=""
for candidate in $(seq 6390 6420); do
  if redis-server --port "$candidate" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" 2>/dev/null; then
    # --daemonize returns before the bind, and another process's redis may already answer on this
    # port: the port is ours only when the server answering it has the pid our daemon wrote.
    for _ in $(seq 50); do
      answering=$(redis-cli -p "$candidate" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
      if [ -n "$answering" ] && [ -s "$dir/redis.pid" ]; then
        [ "$answering" = "$(cat "$dir/redis.pid")" ] && port=$candidate
        break
      fi
      sleep 0.1
    done
    [ -z "$port" ] && rm -f "$dir/redis.pid"
    [ -n "$port" ] && break
  fi
done
[ -n "$port" ] || { echo "could not start redis-server on 127.0.0.1:6390-6420 (log: $dir/redis.log)" >&2; exit 1; }
stop() { redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -rf "$dir"; }
trap stop EXIT
echo "redis-server on 127.0.0.1:$port for the tests" >&2
METAREC_REDIS_URL="redis://127.0.0.1:$port" "$@"
