#!/usr/bin/env bash
# setup.sh: installs the Debian packages ringkv builds and tests with, only
# those missing (idempotent). After installing redis-server, its packaged
# service is stopped and disabled so nothing squats on port 6379.
set -euo pipefail

PACKAGES=(
  cmake gcc g++ make pkg-config
  liburing-dev libmimalloc-dev libroaring-dev liblzf-dev
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  libgtest-dev libbenchmark-dev
  python3-pytest python3-redis
  redis-tools redis-server
  clang libclang-rt-14-dev
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup.sh: not root and sudo is missing" >&2; exit 1
  fi
fi

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

# Stops the redis-server that Debian's package starts (systemd or sysv), and
# any redis-server still listening on 6379 that is not ours to keep.
stop_packaged_redis() {
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl stop redis-server >/dev/null 2>&1 || true
    $SUDO systemctl disable redis-server >/dev/null 2>&1 || true
  fi
  if command -v service >/dev/null 2>&1; then
    $SUDO service redis-server stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d redis-server disable >/dev/null 2>&1 || true
  fi
  # The packaged server runs as user "redis" from /etc/redis/redis.conf on 6379.
  local pid
  for pid in $(pgrep -x redis-server 2>/dev/null || true); do
    local args owner
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    owner=$(stat -c %U "/proc/$pid" 2>/dev/null || true)
    if [ "$owner" = "redis" ] || [[ "$args" == *":6379"* ]]; then
      echo "setup.sh: stopping packaged redis-server (pid $pid: $args)"
      $SUDO kill "$pid" 2>/dev/null || true
    fi
  done
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  for pkg in "${missing[@]}"; do
    if [ "$pkg" = redis-server ]; then stop_packaged_redis; fi
  done
else
  echo "setup.sh: all packages present"
fi

# Even when nothing was installed now, a packaged server from an earlier
# install must not hold 6379 (it would confuse tests and benchmarks).
if is_installed redis-server; then
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    stop_packaged_redis
  fi
fi

