#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 30) from its seed
# corpus, which it never writes: new inputs go to a temporary folder that
# is removed afterwards.  A crash, leak, sanitizer report or timeout (10 s
# per input) leaves its input as crash-*/leak-*/timeout-* in the current
# folder and fails.
#   run_fuzz.sh build-fuzz/tests/fuzz/fuzz_csv tests/fuzz/corpus/csv
set -u
target=$1 corpus=$2
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$target" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$PWD/$(basename "$target")-" \
    "$work" "$corpus"
