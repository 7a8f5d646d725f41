#!/usr/bin/env bash
# Install the Debian packages listed in $1 that are missing, then touch the stamp $2.
# As root: one `apt-get update`, then `apt-get install` of the missing ones. Otherwise,
# or off Debian: one line saying what is missing and how to install it, and no stamp,
# so the next run checks again. Never fails the build for a package it cannot install
# itself: the tests that need it skip and say why.
set -euo pipefail

list=$1
stamp=$2
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$' || true)

if ! command -v dpkg >/dev/null; then
    echo "not a Debian system: install the equivalents of: ${wanted[*]} (tests that need them are skipped)" >&2
    exit 0
fi
missing=()
for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    touch "$stamp"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}; install with: sudo apt-get install ${missing[*]} (tests that need them are skipped until then)" >&2
    exit 0
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
touch "$stamp"
