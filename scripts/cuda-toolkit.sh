#!/usr/bin/env bash
# cuda-toolkit.sh — installs Debian 12's nvcc (nvidia-cuda-toolkit 11.8, in the
# non-free component) for `make cuda-compile-check`. Idempotent: adds an apt
# source enabling non-free (and contrib) for bookworm only when no source has
# it yet, then installs the package only when it is missing. Needs root (or
# sudo). No GPU and no CUDA libtorch are needed to compile the kernels.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if command -v nvcc >/dev/null 2>&1; then exit 0; fi
if dpkg-query -W -f='${Status}' nvidia-cuda-toolkit 2>/dev/null | grep -q '^install ok installed$'; then
  exit 0
fi
src=/etc/apt/sources.list.d/nashmd-non-free.sources
if ! grep -rqsE '^(Components:.*|deb .*bookworm.*)\bnon-free\b' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "cuda-toolkit: enabling bookworm non-free in $src"
  $sudo tee "$src" >/dev/null <<'SRC'
# Added by nashmd scripts/cuda-toolkit.sh: nvidia-cuda-toolkit lives in non-free.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
echo "cuda-toolkit: installing nvidia-cuda-toolkit (Debian's CUDA 11.8; a large download)"
$sudo apt-get update -qq || { echo "cuda-toolkit: apt-get update failed (no network?)" >&2; exit 1; }
# dpkg may be locked by another install: wait for it rather than fail.
for i in $(seq 1 30); do
  if $sudo apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit; then
    exit 0
  fi
  echo "cuda-toolkit: apt-get install failed (dpkg lock?), retrying in 10 s ($i/30)"
  sleep 10
done
echo "cuda-toolkit: could not install nvidia-cuda-toolkit" >&2
exit 1
