#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on a free loopback port.
# Exports TEST_POSTGRES_URL for the tests; stops the server and removes its files on exit,
# whatever the command's outcome. Installs Debian's postgresql when the binaries are missing
# (and Debian's systemd when systemd-analyze is, for the systemd unit's test, and Debian's
# chromium and chromium-driver when they are, for the browser tests).
# Fails loudly (never skips) when the server cannot be started.
set -euo pipefail

die() { echo "with_postgres: $*" >&2; exit 1; }

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

# tests/integration/test_deploy.py runs `systemd-analyze verify` on deploy/signaldesk.service.
command -v systemd-analyze >/dev/null 2>&1 || {
  echo "with_postgres: systemd-analyze not found; installing Debian's systemd" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null || die "apt-get install systemd failed"
}

# tests/e2e/test_web_desk.py drives headless Chromium through chromedriver (Debian's packages).
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || {
  echo "with_postgres: chromium or chromedriver not found; installing Debian's chromium and chromium-driver" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
    || die "apt-get install chromium chromium-driver failed"
}

bindir=$(find_bindir) || {
  echo "with_postgres: PostgreSQL server binaries not found; installing Debian's postgresql" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null \
    || die "apt-get install postgresql failed"
  bindir=$(find_bindir) || die "postgresql installed but initdb was not found"
}

# initdb refuses to run as root: run the server as the 'postgres' user (created by the package).
run_as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  run_as=(runuser -u postgres --)
fi

tmp=$(mktemp -d /tmp/signaldesk-pg.XXXXXX)
chmod 755 "$tmp"
[ ${#run_as[@]} -gt 0 ] && chown postgres "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

start=$(date +%s.%N)
"${run_as[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
"${run_as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $port -k $tmp -c fsync=on -c max_connections=200" start >/dev/null \
  || { cat "$tmp/server.log" >&2; die "pg_ctl start failed"; }
took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
echo "with_postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (started in ${took}s)"

export TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
set +e
"$@"
rc=$?
set -e
exit $rc
