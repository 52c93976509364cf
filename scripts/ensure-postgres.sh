#!/usr/bin/env bash
# PostgreSQL's server binaries (initdb, pg_ctl) for the tests, which start a
# throwaway cluster of their own. Installed from Debian's packages only when
# missing; nothing is configured or started here.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null; then
    exit 0
fi
exec bash "$(dirname "$0")/apt-install.sh" postgresql PostgreSQL "the tests"
