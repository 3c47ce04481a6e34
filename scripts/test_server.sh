#!/usr/bin/env bash
# Starts and stops the real servers that the remote tests use, each on a free
# loopback port, with everything it writes inside one directory.
#
#   scripts/test_server.sh start nginx DIR [USER:PASSWORD | bearer:TOKEN]
#                                                             WebDAV PUT, basic or bearer auth if given
#   scripts/test_server.sh start minio DIR                    S3, checks signatures
#   scripts/test_server.sh start bazel-remote DIR             AC validation disabled
#   scripts/test_server.sh start gocached DIR                 go-tool-cache's server (scripts/bench_network.sh)
#   scripts/test_server.sh start fault DIR UPSTREAM_URL       fault-injecting proxy (scripts/fault_proxy.py)
#   scripts/test_server.sh stop DIR
#
# `start` prints KEY=VALUE lines (url=..., and for minio bucket, access_key,
# secret_key) once the server answers. Set OWNER_PID to have the server
# stopped when that process ends, so a crashed test leaves nothing running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tools=$repo/build/tools

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # url
  for _ in $(seq 300); do
    if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "test_server: nothing answers at $1; see $dir/server.log" >&2
  exit 1
}

start_nginx() {
  local port credentials=${1:-}
  port=$(free_port)
  mkdir -p "$dir/data" "$dir/temp"
  local auth=""
  if [[ $credentials == bearer:* ]]; then
    auth="if (\$http_authorization != \"Bearer ${credentials#bearer:}\") { return 401; }"
  elif [[ -n $credentials ]]; then
    printf '%s:%s\n' "${credentials%%:*}" "$(openssl passwd -apr1 "${credentials#*:}")" >"$dir/htpasswd"
    auth="auth_basic \"gocachefs test\"; auth_basic_user_file $dir/htpasswd;"
  fi
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/server.log warn;
events { worker_connections 512; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/temp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$port;
    location / {
      root $dir/data;
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      $auth
    }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -e "$dir/server.log" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/"
  echo "url=http://127.0.0.1:$port"
}

start_minio() {
  local port console_port secret
  port=$(free_port)
  console_port=$(free_port)
  [[ -f $dir/secret ]] || openssl rand -hex 16 >"$dir/secret"
  secret=$(cat "$dir/secret")
  mkdir -p "$dir/data"
  MINIO_ROOT_USER=gocachefs-test MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off \
    "$tools/minio" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console_port" \
    "$dir/data" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/minio/health/live"
  # The bucket, made with a signed request (409: made by an earlier start).
  # MinIO is live before it is ready: it answers 503 while it initialises.
  local code
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
      --user "gocachefs-test:$secret" "http://127.0.0.1:$port/gocachefs")
    [[ $code == 503 ]] || break
    sleep 0.1
  done
  if [[ $code != 200 && $code != 409 ]]; then
    echo "test_server: creating the bucket failed with HTTP $code" >&2
    exit 1
  fi
  echo "url=http://127.0.0.1:$port"
  echo "bucket=gocachefs"
  echo "access_key=gocachefs-test"
  echo "secret_key=$secret"
}

start_bazel_remote() {
  local port
  port=$(free_port)
  "$tools/bazel-remote" --dir "$dir/data" --max_size 5 --http_address "127.0.0.1:$port" \
    --grpc_address none --disable_http_ac_validation >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/status"
  echo "url=http://127.0.0.1:$port"
}

start_gocached() {
  local port
  port=$(free_port)
  "$tools/gocached" --cache-dir "$dir/data" --listen "127.0.0.1:$port" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/"
  echo "url=http://127.0.0.1:$port"
}

start_fault() {
  local port upstream=$1
  port=$(free_port)
  echo pass >"$dir/mode"
  python3 "$repo/scripts/fault_proxy.py" "$port" "$upstream" "$dir/mode" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/"
  echo "url=http://127.0.0.1:$port"
}

# Running, and not a zombie waiting for a parent to reap it.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

stop() {
  [[ -f $dir/pid ]] || return 0
  local pid
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    alive "$pid" || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  if [[ -f $dir/watchdog ]]; then kill "$(cat "$dir/watchdog")" 2>/dev/null || true; fi
  rm -f "$dir/pid" "$dir/watchdog"
}

# Stops the server when OWNER_PID ends.
watch_owner() {
  [[ -n ${OWNER_PID:-} ]] || return 0
  local pid
  pid=$(cat "$dir/pid")
  (
    while kill -0 "$OWNER_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watchdog"
}

command=${1:-}
case $command in
  start)
    kind=${2:?kind}
    dir=$(realpath -m "${3:?directory}")
    mkdir -p "$dir"
    case $kind in
      nginx) start_nginx "${4:-}" ;;
      minio) start_minio ;;
      bazel-remote) start_bazel_remote ;;
      gocached) start_gocached ;;
      fault) start_fault "${4:?upstream URL}" ;;
      *) echo "test_server: unknown server $kind" >&2; exit 2 ;;
    esac
    watch_owner
    ;;
  stop)
    dir=$(realpath -m "${2:?directory}")
    stop
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
