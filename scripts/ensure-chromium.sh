#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (Playwright drives it:
# browser downloads are not possible). Installed only when missing; fast when
# it is there already.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "/usr/bin/chromium is missing and there is no apt-get: install Chromium by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing Chromium (Debian's chromium package) for the browser tests"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
