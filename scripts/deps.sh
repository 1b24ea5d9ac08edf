#!/usr/bin/env bash
# deps.sh PKG... — installs the Debian packages that are missing, and nothing
# else. Quick (one dpkg-query) when everything is there. Runs apt-get as root,
# or through sudo when not root.
set -euo pipefail
missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (a second `make` target, a helper) instead of failing.
# A fresh machine has empty package lists; update once, then install.
$sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
