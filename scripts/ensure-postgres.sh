#!/usr/bin/env bash
# PostgreSQL's server binaries (initdb, pg_ctl) for the tests, which start a
# throwaway cluster of their own. Installed from Debian's packages only when
# missing; nothing is configured or started here.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "PostgreSQL's initdb is missing and there is no apt-get: install PostgreSQL (server) by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing PostgreSQL (Debian's postgresql package) for the tests"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql
