#!/usr/bin/env bash
# Builds the model that ships in models/ (and inside the metaids binary) from the shared
# CIC-IDS2017 data. Reproducible: the same seed, data and build give the same bytes (the
# history's time is pinned through SOURCE_DATE_EPOCH; the thread count does not change the
# result). Usage: [METAIDS=build/metaids] tools/build-shipped-model.sh [DATA_DIR] [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
out="${2:-models/metaids-cicids2017.mids}"
metaids="${METAIDS:-build/metaids}"
export SOURCE_DATE_EPOCH=1796083200   # 2026-12-01T00:00:00Z, the recipe's date
"$metaids" train --config configs/shipped-cicids2017.json --data "$data" \
  --algorithm protonet --task classification --seed 0 --shots 5 --threads 2 \
  --benign-reference 500 --reference-per-class 30 --fpr 0.01 --out "$out"
"$metaids" info "$out" | grep -E '^(version|class|calibration)'
sha256sum "$out"
