#!/usr/bin/env bash
# Services for the test suite, sourced by .ci/run (as root, Debian):
#   * PostgreSQL: a private cluster on 127.0.0.1:${QDLAB_PG_PORT:-54329} with a user that may create
#     databases; exports QDLAB_TEST_POSTGRES_URL for the tests marked `postgres`.
#   * Chromium (Debian package) at /usr/bin/chromium for the tests marked `browser` (Playwright cannot
#     download its own browser here, so tests launch this one through executable_path).
# Every step is optional: a failure prints a note and the tests needing that service skip.

_qdlab_note() { echo "ci/services: $*" >&2; }

_qdlab_apt() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then _qdlab_note "not root: cannot install ${missing[*]}"; return 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || return 1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null || return 1
}

_qdlab_postgres() {
  local bin port dir log
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || { _qdlab_note "no PostgreSQL binaries"; return 1; }
  port=${QDLAB_PG_PORT:-54329}
  dir=${QDLAB_PG_DIR:-/tmp/qdlab-ci-pg}
  log="$dir.log"
  local as=()
  [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
  if ! "${as[@]}" "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    if [ ! -s "$dir/PG_VERSION" ]; then
      rm -rf "$dir"; mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
      "${as[@]}" "$bin/initdb" -D "$dir" -U postgres -A trust --no-sync >/dev/null || return 1
    fi
    touch "$log"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$log"
    "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off" start >/dev/null || { tail -5 "$log" >&2; return 1; }
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres)
  [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='qdlab'")" = 1 ] \
    || "${psql[@]}" -qc "CREATE ROLE qdlab LOGIN CREATEDB" || return 1
  [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='qdlab_test'")" = 1 ] \
    || "${psql[@]}" -qc "CREATE DATABASE qdlab_test OWNER qdlab" || return 1
  export QDLAB_TEST_POSTGRES_URL="postgresql://qdlab@127.0.0.1:$port/qdlab_test"
  _qdlab_note "PostgreSQL ready at $QDLAB_TEST_POSTGRES_URL"
}

_qdlab_apt || _qdlab_note "package installation failed; tests needing PostgreSQL/Chromium may skip"
_qdlab_postgres || _qdlab_note "PostgreSQL not started; tests marked postgres will skip"
[ -x /usr/bin/chromium ] && _qdlab_note "Chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
true
