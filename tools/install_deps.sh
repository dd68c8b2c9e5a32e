#!/usr/bin/env bash
# Installs what sbpflow needs from Debian's packages; idempotent (installs
# only what is missing). Run as root or with sudo available.
set -euo pipefail

packages=(
  # build tools
  build-essential cmake ninja-build pkg-config
  # libraries
  libprotobuf-dev protobuf-compiler libtbb-dev libgoogle-glog-dev libgtest-dev libgmock-dev
  libopenblas-dev libabsl-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  # data
  dataset-fashion-mnist
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
