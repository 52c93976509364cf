#!/usr/bin/env bash
# Install one Debian package the tests need: apt-install.sh PACKAGE WHAT WHY
# (WHAT names it in messages, WHY says what needs it). Callers check first
# whether it is there already.
set -euo pipefail

package="$1" what="$2" why="$3"
if ! command -v apt-get >/dev/null; then
    echo "$what is missing and there is no apt-get: install $what by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing $what (Debian's $package package) for $why"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$package"
