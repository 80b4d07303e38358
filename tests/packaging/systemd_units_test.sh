#!/usr/bin/env bash
# The shipped systemd units pass `systemd-analyze verify` (syntax, directives, the command and
# its man page), with the built binary standing in for /usr/bin/metaids and docs/metaids.1 on
# MANPATH; their hardening stays at systemd's "OK" exposure or better; the logrotate snippet
# passes `logrotate -d`. Skipped (77) where systemd-analyze is missing (Debian: systemd).
# Usage: systemd_units_test.sh METAIDS_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
command -v systemd-analyze > /dev/null || { echo "systemd_units_test: no systemd-analyze (package systemd); skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "systemd_units_test: $*" >&2; exit 1; }

mkdir -p "$work/units" "$work/man/man1"
cp "$src/docs/metaids.1" "$work/man/man1/"
for unit in metaids-detect.service metaids-detect@.service; do
  grep -q '^ExecStart=/usr/bin/metaids detect ' "$src/packaging/$unit" || fail "$unit does not run /usr/bin/metaids detect"
  grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$src/packaging/$unit" || fail "$unit: no ExecReload sending SIGHUP"
  sed "s|/usr/bin/metaids|$bin|" "$src/packaging/$unit" > "$work/units/$unit"
done
grep -q '^ExecStart=/usr/bin/metaids serve ' "$src/packaging/metaids-serve.service" || fail "metaids-serve.service does not run /usr/bin/metaids serve"
sed "s|/usr/bin/metaids|$bin|" "$src/packaging/metaids-serve.service" > "$work/units/metaids-serve.service"
cp "$work/units/metaids-detect@.service" "$work/units/metaids-detect@lo.service"
cd "$work/units"
for unit in metaids-detect.service metaids-detect@.service metaids-detect@lo.service metaids-serve.service; do
  out=$(MANPATH="$work/man" systemd-analyze verify "./$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $unit warns: $out"
done
# Exposure 0 (best) to 10; 2.2 when written. `security --offline` needs systemd 250.
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  for unit in metaids-detect.service metaids-detect@lo.service metaids-serve.service; do
    exposure=$(systemd-analyze security --offline=yes --no-pager "./$unit" 2>/dev/null |
               sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$exposure" ] || fail "no exposure level for $unit"
    awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }' || fail "$unit exposure $exposure > 3.0 (hardening lost)"
  done
fi

if command -v logrotate > /dev/null; then
  cp "$src/packaging/metaids.logrotate" "$work/metaids.logrotate"
  chmod 644 "$work/metaids.logrotate"
  out=$(logrotate -d -s "$work/logrotate.state" "$work/metaids.logrotate" 2>&1) || fail "logrotate -d: $out"
  ! printf '%s\n' "$out" | grep -qi '^error' || fail "logrotate -d: $out"
fi
echo "systemd_units_test: units verified"
