#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (Playwright drives it:
# browser downloads are not possible). Installed only when missing; fast when
# it is there already.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
exec bash "$(dirname "$0")/apt-install.sh" chromium Chromium "the browser tests"
