#!/usr/bin/env bash
# Builds the libFuzzer harness of the packet decoder (clang, ASan+UBSan) in build-fuzz and runs
# it for about FUZZ_SECONDS (default 60) over the seed corpus in fuzz/corpus/decoder.
# Usage: .ci/fuzz.sh   (called from .ci/run; needs clang and libclang-rt-14-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMETAIDS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DMETAIDS_NATIVE=OFF >/dev/null
cmake --build build-fuzz --target fuzz_decoder -j2
work="build-fuzz/corpus-decoder"
mkdir -p "$work"
cp -n fuzz/corpus/decoder/* "$work"/ 2>/dev/null || true
# New inputs go to the scratch copy; the checked-in seeds stay as they are.
build-fuzz/fuzz/fuzz_decoder -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work"
echo "fuzz: decoder survived ${seconds}s"
