#!/usr/bin/env bash
# Installs the Debian 12 packages weft builds, tests and benches with, if any is missing.
set -euo pipefail
pkgs=(g++ cmake make libboost-context-dev libtbb-dev liburing-dev doctest-dev
      libbenchmark-dev libtomlplusplus-dev libcli11-dev time wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[weft] installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
