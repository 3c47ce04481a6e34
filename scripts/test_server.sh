#!/usr/bin/env bash
# Starts and stops the real servers that the remote tests use, each on a free
# loopback port, with everything it writes inside one directory.
#
#   scripts/test_server.sh start nginx DIR [USER:PASSWORD | bearer:TOKEN]
#                                                             WebDAV PUT, basic or bearer auth if given
#   scripts/test_server.sh start nginx-default-limit DIR      the same with nginx's default body limit (1 MiB:
#                                                             larger PUTs get 413), as a recipe that forgets it has
#   scripts/test_server.sh start minio DIR [OIDC_URL CLIENT_ID]
#                                                             S3, checks signatures; STS AssumeRole, and
#                                                             AssumeRoleWithWebIdentity with that OpenID provider
#   scripts/test_server.sh start oidc DIR                     OpenID provider for MinIO (scripts/oidc_provider.py)
#   scripts/test_server.sh start aws-metadata DIR MINIO_URL ACCESS_KEY SECRET_KEY
#                                                             ECS and IMDSv2 credential endpoints handing out
#                                                             MinIO STS keys (scripts/aws_metadata_server.py)
#   scripts/test_server.sh start ec2-metadata-mock DIR MINIO_URL ACCESS_KEY SECRET_KEY
#                                                             amazon-ec2-metadata-mock (IMDSv2 only) serving
#                                                             one set of MinIO STS keys
#   scripts/test_server.sh start bazel-remote DIR             AC validation disabled
#   scripts/test_server.sh start gocached DIR                 go-tool-cache's server (scripts/bench_network.sh)
#   scripts/test_server.sh start fault DIR UPSTREAM_URL       fault-injecting proxy (scripts/fault_proxy.py)
#   scripts/test_server.sh start gha DIR [UPLOADS_PER_MINUTE [REPO_LIMIT_BYTES]]
#                                                             GitHub Actions cache service v2 emulator
#                                                             (tests/gha_emulator/gha_cache_emulator.py)
#   scripts/test_server.sh stop DIR
#
# `start` prints KEY=VALUE lines (url=..., and for minio bucket, access_key,
# secret_key; for oidc token_file, client_id; for aws-metadata token; for gha
# token, the runtime token, url being ACTIONS_RESULTS_URL) once
# the server answers. Set OWNER_PID to have the server
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

start_nginx() {  # [credentials] [client_max_body_size line]
  local port credentials=${1:-} body_limit=${2-client_max_body_size 0;}
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
  $body_limit
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
  local openid=()
  if [[ -n ${1:-} ]]; then
    # Web identity: the JWT's "policy" claim names the policy of its keys.
    openid=(MINIO_IDENTITY_OPENID_CONFIG_URL="$1/.well-known/openid-configuration"
      MINIO_IDENTITY_OPENID_CLIENT_ID="${2:?client id}" MINIO_IDENTITY_OPENID_CLAIM_NAME=policy)
  fi
  env "${openid[@]}" MINIO_ROOT_USER=gocachefs-test MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off \
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

start_oidc() {
  local port
  port=$(free_port)
  python3 "$repo/scripts/oidc_provider.py" "$port" "$dir" gocachefs-test-client >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/jwks"
  echo "url=http://127.0.0.1:$port"
  echo "token_file=$dir/token"
  echo "client_id=gocachefs-test-client"
}

start_aws_metadata() {
  local port token
  port=$(free_port)
  token=$(openssl rand -hex 16)
  python3 "$repo/scripts/aws_metadata_server.py" "$port" "$1" "$2" "$3" "$token" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/stats"
  echo "url=http://127.0.0.1:$port"
  echo "token=$token"
}

# The mock serves credentials from its config file: one set, fetched now
# from MinIO's STS with the root keys.
start_ec2_metadata_mock() {
  local port answer
  port=$(free_port)
  answer=$(curl -sS --max-time 10 --aws-sigv4 "aws:amz:us-east-1:sts" --user "$2:$3" \
    -d "Action=AssumeRole&Version=2011-06-15&DurationSeconds=3600" "$1/")
  printf '%s' "$answer" >"$dir/assume-role.xml"
  python3 - "$dir/assume-role.xml" "$dir/aemm-config.json" "$port" <<'PY'
import json, sys, xml.etree.ElementTree as ET
ns = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
c = ET.parse(sys.argv[1]).find(".//sts:Credentials", ns)
field = lambda name: c.find("sts:" + name, ns).text
credentials = {"Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC",
               "AccessKeyId": field("AccessKeyId"), "SecretAccessKey": field("SecretAccessKey"),
               "Token": field("SessionToken"), "Expiration": field("Expiration")}
config = {"metadata": {"values": {"iam-security-credentials": credentials}},
          "server": {"hostname": "127.0.0.1", "port": sys.argv[3]}}
json.dump(config, open(sys.argv[2], "w"))
PY
  "$tools/ec2-metadata-mock" --config-file "$dir/aemm-config.json" --imdsv2 --hostname 127.0.0.1 --port "$port" \
    >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/latest/meta-data"
  echo "url=http://127.0.0.1:$port"
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

# The runtime token that the emulator accepts: a JWT shaped like the runner's
# (HS256 header; ac, exp and nbf claims as tonistiigi/go-actions-cache parses
# them), with random signature bytes: nothing checks them. Kept in DIR, and
# reused while it has an hour left, so a restart keeps the clients' token.
gha_token() {
  python3 - "$dir/runtime-token" <<'PY'
import base64, json, os, sys, time
path = sys.argv[1]
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
try:
    token = open(path).read().strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    if claims["exp"] > time.time() + 3600:
        print(token)
        sys.exit(0)
except (OSError, ValueError, IndexError, KeyError):
    pass
now = int(time.time())
scopes = json.dumps([{"Scope": "refs/heads/main", "Permission": 3}], separators=(",", ":"))
claims = {"ac": scopes, "exp": now + 6 * 3600, "nbf": now - 60, "iat": now - 60}
token = ".".join([b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()), b64(json.dumps(claims).encode()),
                  b64(os.urandom(32))])
with open(path + ".tmp", "w") as f:
    f.write(token + "\n")
os.replace(path + ".tmp", path)
print(token)
PY
}

start_gha() {  # [uploads per minute] [repository limit in bytes]
  local port token limits=()
  port=$(free_port)
  token=$(gha_token)
  [[ -n ${1:-} ]] && limits+=(--uploads-per-minute "$1")
  [[ -n ${2:-} ]] && limits+=(--repo-limit-bytes "$2")
  python3 "$repo/tests/gha_emulator/gha_cache_emulator.py" "$port" "$dir/data" --token-file "$dir/runtime-token" \
    "${limits[@]}" >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
  wait_for "http://127.0.0.1:$port/_emulator/stats"
  echo "url=http://127.0.0.1:$port"
  echo "token=$token"
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
      nginx-default-limit) start_nginx "" "" ;;
      minio) start_minio "${4:-}" "${5:-}" ;;
      oidc) start_oidc ;;
      aws-metadata) start_aws_metadata "${4:?MinIO URL}" "${5:?access key}" "${6:?secret key}" ;;
      ec2-metadata-mock) start_ec2_metadata_mock "${4:?MinIO URL}" "${5:?access key}" "${6:?secret key}" ;;
      bazel-remote) start_bazel_remote ;;
      gocached) start_gocached ;;
      fault) start_fault "${4:?upstream URL}" ;;
      gha) start_gha "${4:-}" "${5:-}" ;;
      *) echo "test_server: unknown server $kind" >&2; exit 2 ;;
    esac
    watch_owner
    ;;
  stop)
    dir=$(realpath -m "${2:?directory}")
    stop
    ;;
  *)
    sed -n '2,31p' "$0" >&2
    exit 2
    ;;
esac
