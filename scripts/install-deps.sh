#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages named as arguments that are not installed yet.
# Runs apt-get as root (or through sudo); refreshes the package lists only when
# a package cannot be found without it. Prints nothing when all are present.
set -eu

missing=""
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $pkg"
    fi
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: missing Debian packages:$missing" >&2
    echo "install-deps: run as root: apt-get install -y$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $sudo apt-get install -y -q $missing; then
    $sudo apt-get update -q
    $sudo apt-get install -y -q $missing
fi
