#!/usr/bin/env bash
# Benchmark of the contacts directory (run with `meson test --benchmark` or
# directly: tests/bench/bench_contacts.sh build/src/postier [N]):
# import N canonical contact rows (default 1,000,000), then time several
# `contacts list --search` queries on that database.  Prints rows/s, peak
# RSS and milliseconds per search.
set -euo pipefail
postier=$(realpath "$1")
n=${2:-${BENCH_ROWS:-1000000}}
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /tmp/postier-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cfg="$work/config/postier.ini"

/usr/bin/python3 "$here/gen_contacts.py" "$n" "$work/contacts.csv"
"$postier" --config "$cfg" init >/dev/null
"$postier" --config "$cfg" parties import "$work/contacts.csv.parties.csv" >/dev/null
size=$(du -m "$work/contacts.csv" | cut -f1)

t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$postier" --config "$cfg" contacts import "$work/contacts.csv"
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc -l)
printf 'import: %d rows (%d MB) in %.2f s = %.0f rows/s, peak RSS %d MB\n' \
    "$n" "$size" "$secs" "$(echo "$n / $secs" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"

for q in "lefèvre" "ELODIE martin" "06 12 34" "république nantes" "zzz-no-match"; do
    best=999999
    for _ in 1 2 3; do
        t0=$(date +%s%N)
        "$postier" --config "$cfg" contacts list --search "$q" --per-page 20 >/dev/null
        t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000000 ))
        [ "$ms" -lt "$best" ] && best=$ms
    done
    total=$("$postier" --config "$cfg" contacts list --search "$q" --per-page 1 | tail -1)
    printf 'search %-22s best of 3: %4d ms  (%s)\n' "\"$q\"" "$best" "$total"
done
