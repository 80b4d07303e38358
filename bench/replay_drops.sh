#!/usr/bin/env bash
# Kernel drops of live capture at a high packet rate: a generated trace (metaids synth) replayed
# by tcpreplay into one end of a veth pair inside a private network namespace, `metaids flows
# --interface` (or `metaids detect --interface`) capturing on the other end, for several capture
# settings. Prints one JSON line per run (to stdout) and a Markdown table of the medians (to
# stderr), the table docs/performance.md shows ("Live capture: kernel drops at 1 Mpps").
#
# Usage (root; iproute2, tcpreplay, ethtool for the offload rows):
#   bench/replay_drops.sh [--metaids BUILD/metaids] [--packets 2000000] [--pps 1000000]
#                         [--runs 3] [--trace FILE] [--only REGEX]
# The replay runs on CPU 0 and the capture on the last CPU (taskset) when there are two or more.
# Columns: offered and achieved replay rate (tcpreplay's "Rated"), packets the capture socket
# saw (kernel_received, pcap_stats), dropped by it for want of room in the ring
# (kernel_dropped), and packets that reached no socket (per-CPU backlog drops,
# /proc/net/softnet_stat), which no capture setting can recover.
set -euo pipefail

metaids=build/metaids
packets=2000000
pps=1000000
runs=3
trace=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --metaids) metaids=$2; shift 2 ;;
    --packets) packets=$2; shift 2 ;;
    --pps) pps=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --trace) trace=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--metaids BIN] [--packets N] [--pps R] [--runs K] [--trace FILE] [--only REGEX]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "replay_drops: needs root (network namespace, raw capture)" >&2; exit 1; }
for tool in ip tcpreplay taskset; do
  command -v "$tool" > /dev/null || { echo "replay_drops: $tool not installed" >&2; exit 1; }
done
metaids=$(realpath "$metaids")

# name | command | options | offloads (on: the veth default; off: ethtool -K ... off)
settings=(
  "flows, defaults|flows||on"
  "flows --immediate|flows|--immediate|on"
  "flows --snaplen 2048|flows|--snaplen 2048|on"
  "flows --immediate --snaplen 2048|flows|--immediate --snaplen 2048|on"
  "flows --immediate --buffer-size 16 MiB|flows|--immediate --buffer-size 16777216|on"
  "flows --buffer-size 2 MiB (libpcap's default)|flows|--buffer-size 2097152|on"
  "flows --buffer-size 8 MiB|flows|--buffer-size 8388608|on"
  "flows --buffer-size 16 MiB|flows|--buffer-size 16777216|on"
  "flows --buffer-size 32 MiB|flows|--buffer-size 33554432|on"
  "flows --buffer-size 2 MiB, offloads off|flows|--buffer-size 2097152|off"
  "flows --immediate --snaplen 2048 --buffer-size 16 MiB|flows|--immediate --snaplen 2048 --buffer-size 16777216|on"
  "flows --immediate, offloads off|flows|--immediate|off"
  "detect, defaults|detect||on"
  "detect --threads 1|detect|--threads 1|on"
  "detect --buffer-size 16 MiB|detect|--buffer-size 16777216|on"
  "detect --immediate|detect|--immediate|on"
  "detect --immediate --snaplen 2048|detect|--immediate --snaplen 2048|on"
)

. "$(dirname "$0")/../tests/common/netns.sh"
netns_up metaids-drops

cpus=$(nproc)
replay_pin=()
capture_pin=()
if [ "$cpus" -ge 2 ]; then
  replay_pin=(taskset -c 0)
  capture_pin=(taskset -c $((cpus - 1)))
fi

if [ -z "$trace" ]; then
  trace=$work/trace.pcap
  "$metaids" synth --packets "$packets" --seed 1 --duration 2 --out "$trace" --quiet
fi

set_offloads() {
  command -v ethtool > /dev/null || return 1
  for link in mcap mreplay; do
    in_ns ethtool -K "$link" tso "$1" gso "$1" gro "$1" > /dev/null 2>&1 || true
  done
}
backlog_drops() {  # the second column of every CPU's line, hexadecimal
  local total=0 processed dropped rest
  while read -r processed dropped rest; do total=$((total + 16#$dropped)); done < /proc/net/softnet_stat
  echo "$total"
}
field() { sed -n "s/.*[ (]$1=\\([0-9.]*\\).*/\\1/p" "$2" | tail -n 1; }

results=$work/results.tsv
: > "$results"
for setting in "${settings[@]}"; do
  IFS='|' read -r name command options offloads <<< "$setting"
  if [ -n "$only" ] && ! [[ $name =~ $only ]]; then continue; fi
  if [ "$offloads" = off ]; then
    set_offloads off || { echo "replay_drops: no ethtool; skipping '$name'" >&2; continue; }
  else
    set_offloads on || true
  fi
  for run in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086  # options are words
    ip netns exec "$ns" "${capture_pin[@]}" "$metaids" "$command" --interface mcap --out /dev/null $options \
      2> "$work/capture.log" &
    capture_pid=$!
    sleep 1.5
    before=$(backlog_drops)
    load=$(cut -d' ' -f1 /proc/loadavg)
    in_ns "${replay_pin[@]}" tcpreplay --intf1=mreplay --pps="$pps" --preload-pcap "$trace" > "$work/replay.log" 2>&1
    sleep 2
    kill -TERM "$capture_pid"
    wait "$capture_pid" || true
    capture_pid=""
    after=$(backlog_drops)
    sent=$(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' "$work/replay.log")
    rate=$(sed -n 's/.* \([0-9.]*\) pps$/\1/p' "$work/replay.log" | head -n 1)
    received=$(field kernel_received "$work/capture.log")
    dropped=$(field kernel_dropped "$work/capture.log")
    frames=$(field frames "$work/capture.log")
    if [ -z "$received" ] || [ -z "$sent" ]; then
      echo "replay_drops: '$name' run $run gave no counts:" >&2
      cat "$work/capture.log" "$work/replay.log" >&2
      continue
    fi
    printf '{"setting":"%s","run":%d,"offered_pps":%d,"achieved_pps":%.0f,"sent":%d,"kernel_received":%d,"kernel_dropped":%d,"frames_read":%d,"backlog_dropped":%d,"load_1min":%s}\n' \
      "$name" "$run" "$pps" "$rate" "$sent" "$received" "$dropped" "$frames" "$((after - before))" "$load"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rate" "$sent" "$received" "$dropped" "$((after - before))" >> "$results"
  done
done
set_offloads on || true

# Medians per setting, in the order run.
{
  echo "| setting | achieved replay rate (pps) | sent | kernel_received | kernel_dropped (median; all runs) | dropped % |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '
    function median(list,    n, v, i, j, t) {
      n = split(list, v, " ")
      for (i = 1; i <= n; ++i) for (j = i + 1; j <= n; ++j) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    !($1 in seen) { seen[$1] = 1; order[++count] = $1 }
    { rate[$1] = rate[$1] " " $2; sent[$1] = sent[$1] " " $3; received[$1] = received[$1] " " $4
      dropped[$1] = dropped[$1] " " $5; all[$1] = all[$1] (all[$1] == "" ? "" : ", ") $5 }
    END {
      for (i = 1; i <= count; ++i) {
        s = order[i]
        d = median(dropped[s]); r = median(received[s])
        printf "| %s | %.0f k | %.0f | %.0f | %.0f (%s) | %.1f |\n", s, median(rate[s]) / 1000, median(sent[s]), r, d,
               all[s], (r > 0 ? 100 * d / r : 0)
      }
    }' "$results"
} >&2
