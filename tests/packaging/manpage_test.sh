#!/usr/bin/env bash
# docs/metaids.1 is what tools/make-manpage.sh makes from the binary's --help today: every
# command and benchmark has its section, the page renders without warnings, and it is equal to
# a fresh one (the date aside). After changing any --help text:
#   cmake --build BUILD --target manpage     (rewrites docs/metaids.1)
# Usage: manpage_test.sh METAIDS_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
page=$src/docs/metaids.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "manpage_test: $*" >&2; exit 1; }

"$src/tools/make-manpage.sh" "$bin" "$work/metaids.1" > /dev/null
fresh=$work/metaids.1

commands() { awk '/^Subcommands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }'; }
count=0
for command in $("$bin" --help | commands); do
  if [ "$command" = bench ]; then
    grep -qx '\.SH BENCHMARKS' "$fresh" || fail "no BENCHMARKS section"
    for benchmark in $("$bin" bench --help | commands); do
      grep -qx "\.SS bench $benchmark" "$fresh" || fail "no section for 'metaids bench $benchmark'"
      count=$((count + 1))
    done
  else
    grep -qx "\.SS $command" "$fresh" || fail "no section for 'metaids $command'"
  fi
  count=$((count + 1))
done
[ "$count" -ge 12 ] || fail "only $count commands found in 'metaids --help'"
# Every long option of `metaids detect` is on the page (the service runs it).
plain=$(sed 's/\\-/-/g; s/\\f[BIR]//g' "$fresh")
for option in $("$bin" detect --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  grep -qw -- "$option" <<< "$plain" || fail "detect's $option is not on the page"
done

if command -v groff > /dev/null; then
  warnings=$(LC_ALL=C.UTF-8 groff -k -man -Tutf8 -ww -z "$fresh" 2>&1 || true)
  [ -z "$warnings" ] || fail "groff warns about the page: $warnings"
fi
if command -v lexgrog > /dev/null; then
  lexgrog "$fresh" | grep -q 'metaids - few-shot' || fail "whatis cannot read the NAME section"
fi

[ -f "$page" ] || fail "$page is missing: cmake --build BUILD --target manpage"
if ! diff -u <(grep -v '^\.TH ' "$page") <(grep -v '^\.TH ' "$fresh") > "$work/diff"; then
  head -n 40 "$work/diff" >&2
  fail "docs/metaids.1 is out of date with 'metaids --help': cmake --build BUILD --target manpage"
fi
echo "manpage_test: docs/metaids.1 is current ($count commands and benchmarks)"
