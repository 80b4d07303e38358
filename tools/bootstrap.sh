#!/usr/bin/env bash
# Installs metaids' build dependencies from Debian 12's packages and builds it in ./build.
# Usage: tools/bootstrap.sh [extra cmake options...]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libeigen3-dev libxsmm-dev libpcap-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev libxgboost-dev libcpp-httplib-dev libssl-dev
  python3 python3-numpy python3-torch python3-matplotlib libopenblas0-pthread
  tcpreplay iproute2 clang libclang-rt-14-dev systemd logrotate groff-base ethtool
  curl jq wrk chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The console's browser test drives Debian's Chromium with playwright-core from the npm registry
# (tests/serve/console_test.sh skips without it).
if command -v npm >/dev/null && [ ! -d tests/serve/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/serve/browser --no-audit --no-fund --loglevel=error \
    || echo "bootstrap: npm ci failed; the console's browser test (serve.console) will be skipped"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
echo "bootstrap: built build/metaids"
