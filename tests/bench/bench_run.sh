#!/usr/bin/env bash
# Benchmark of the nightly run (meson test --benchmark, or directly:
# tests/bench/bench_run.sh build/src/postier [PARTIES] [DOCUMENTS]):
# a book of PARTIES parties x 4 contacts (default 50,000) and DOCUMENTS
# invoices (default 100,000), then `postier run` with the Maildir transport.
# Prints messages/s for resolve+render+spool+deliver+record and peak RSS,
# then the Maildir writer alone (bench_transport: the same number of
# files, nothing rendered or recorded).  BENCH_DIR: where to work
# (default /tmp; /dev/shm takes the disk out of the figure).  BENCH_FRESH=1
# (root): works on a new ext4 file system (a loop device over an image in
# BENCH_DIR), so that earlier runs' deleted files do not slow this one down.
set -euo pipefail
postier=$(realpath "$1")
parties=${2:-50000}
docs=${3:-100000}
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${BENCH_FRESH:-0}" = 1 ]; then
    img=$(mktemp "${BENCH_DIR:-/tmp}/postier-bench-fs-XXXXXX")
    mnt=$(mktemp -d)
    dev=""
    trap 'umount "$mnt" 2>/dev/null; [ -z "$dev" ] || losetup -d "$dev" 2>/dev/null; rm -rf "$img" "$mnt"' EXIT
    truncate -s 8G "$img"
    mkfs.ext4 -q -F -N 1000000 "$img"
    dev=$(losetup -f --show --direct-io=on "$img")
    mount "$dev" "$mnt"
    work="$mnt/work"
    mkdir "$work"
else
    work=$(mktemp -d "${BENCH_DIR:-/tmp}/postier-bench-run-XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
cfg="$work/config/postier.ini"

/usr/bin/python3 "$src/tests/bench/gen_run.py" "$parties" "$docs" "$work/data"
"$postier" --config "$cfg" init >/dev/null
printf '[store]\ntemplates = %s/templates\n' "$src" >> "$cfg"
"$postier" --config "$cfg" parties import "$work/data/parties.csv" >/dev/null
"$postier" --config "$cfg" contacts import "$work/data/contacts.csv" >/dev/null
"$postier" --config "$cfg" documents import "$work/data/invoices.csv" --type invoice >/dev/null

t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$postier" --config "$cfg" run --date 2026-11-23 | tail -1
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc -l)
msgs=$(ls "$work/spool/sent/new" | wc -l)
printf 'run: %d documents, %d messages in %.2f s = %.0f messages/s, peak RSS %d MB\n' \
    "$docs" "$msgs" "$secs" "$(echo "$msgs / $secs" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"
t0=$(date +%s.%N)
"$postier" --config "$cfg" run --date 2026-11-23 | tail -1
t1=$(date +%s.%N)
printf 'second run (nothing to send): %.2f s\n' "$(echo "$t1 - $t0" | bc -l)"

# the Maildir writer threads alone, on the same file system: BENCH_TRANSPORT
# is set by meson, or found in the build folder next to the postier binary
bt=${BENCH_TRANSPORT:-$(dirname "$postier")/../tests/bench_transport}
if [ -x "$bt" ]; then
    one=$(find "$work/spool/sent/new" -type f -print -quit)
    "$bt" "maildir:$work/writer" "$one" "$msgs" 1 | sed 's/^transport alone/Maildir writer alone/'
fi
