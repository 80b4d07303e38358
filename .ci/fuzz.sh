#!/usr/bin/env bash
# Builds every libFuzzer harness (clang, ASan+UBSan) in build-fuzz and runs each for
# FUZZ_SECONDS (default 20) over its seed corpus, fuzz/corpus/<name>. A crash, a sanitizer
# report, a timeout (10 s for one input) or running out of memory (2 GB) fails the script;
# the input that did it is left in build-fuzz/artifacts/ and the command to replay it printed.
#
#   .ci/fuzz.sh                        every target, FUZZ_SECONDS each (5 targets: ~100 s)
#   FUZZ_SECONDS=300 .ci/fuzz.sh csv   one target for longer
#
# Targets (docs/security.md): decoder (pcap/pcapng packets), csv (the tokenizer), loader (CSV
# through the loaders and the transform), config (schema and experiment-config JSON), model
# (model files), eve (EVE JSON read back by adapt --eve), flow_csv (the flow CSVs of detect,
# predict and adapt), http_bodies (the service's request bodies: score, adapt, rollback). Needs
# clang and libclang-rt-14-dev. Called from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
all_targets=(decoder csv loader config model eve flow_csv http_bodies)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMETAIDS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DMETAIDS_NATIVE=OFF >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build build-fuzz --target "${build_targets[@]}" -j2

# Largest input per target: a packet, a few KB of CSV or JSON, a small model file.
max_len() {
  case "$1" in
    decoder) echo 2048 ;;
    csv | config) echo 4096 ;;
    loader) echo 8192 ;;
    model) echo 16384 ;;
    eve) echo 8192 ;;
    flow_csv) echo 8192 ;;
    http_bodies) echo 8192 ;;
  esac
}

mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  work="build-fuzz/corpus-$t"
  mkdir -p "$work"
  # New inputs go to the scratch copy; the checked-in seeds stay as they are.
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  if [ "$t" = model ]; then  # the fixtures of tests/model too, behind the harness's "as is" byte
    for f in tests/model/fixtures/*.mids; do
      [ -e "$work/fixture-$(basename "$f")" ] || { printf '\0'; cat "$f"; } >"$work/fixture-$(basename "$f")"
    done
  fi
  extra=()
  if [ -f "fuzz/$t.dict" ]; then extra+=("-dict=fuzz/$t.dict"); fi
  log="build-fuzz/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s"
  if ! build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "${extra[@]}" \
      "$work" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED; replay with: build-fuzz/fuzz/fuzz_$t build-fuzz/artifacts/$t-*"
    echo "fuzz: then add the input as a regression test under tests/ (and to fuzz/corpus/$t)"
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(find "$work" -type f | wc -l)
  echo "fuzz: $t survived ${seconds}s: $execs inputs run, corpus $corpus files"
done
