#!/usr/bin/env bash
# Benchmark of the nightly run over SMTP (directly:
# tests/bench/bench_smtp.sh build/src/postier [MESSAGES]):
# a book from gen_run.py sized for about MESSAGES messages (default 100,000;
# two invoice recipients per document, so MESSAGES/2 invoices over MESSAGES/4
# parties), then `postier run` with transport = smtp and 4 connections to
# postfix's smtp-sink on 127.0.0.1.  Prints messages/s end to end (resolve +
# render + MIME + spool + send + record) and peak RSS, then the rate of
# postfix's own smtp-source sending the same number of messages of the same
# size to the same sink with the same concurrency (4 sessions, each reusing
# its connection), and the ratio postier / smtp-source.
set -euo pipefail
postier=$(realpath "$1")
want=${2:-${BENCH_MESSAGES:-100000}}
src=$(cd "$(dirname "$0")/../.." && pwd)
conns=4

sink_bin=/usr/sbin/smtp-sink
source_bin=/usr/sbin/smtp-source
if [ ! -x "$sink_bin" ] || [ ! -x "$source_bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing postfix (for smtp-sink and smtp-source)..." >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null
    fi
    if [ ! -x "$sink_bin" ] || [ ! -x "$source_bin" ]; then
        echo "bench_smtp: $sink_bin and $source_bin are needed (Debian package postfix);" \
             "install it or run this script as root to have it installed" >&2
        exit 77
    fi
fi
sink_user=()
if [ "$(id -u)" = 0 ]; then
    if id postfix >/dev/null 2>&1; then sink_user=(-u postfix); else sink_user=(-u nobody); fi
fi

work=$(mktemp -d /tmp/postier-bench-smtp-XXXXXX)
sink_pid=
cleanup() {
    if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docs=$(( (want + 1) / 2 ))
parties=$(( docs / 2 > 0 ? docs / 2 : 1 ))

# --- a small Maildir run of the same book shape: the size of the messages --
sample="$work/sample"
scfg="$sample/config/postier.ini"
/usr/bin/python3 "$src/tests/bench/gen_run.py" 100 200 "$sample/data"
"$postier" --config "$scfg" init >/dev/null
printf '[store]\ntemplates = %s/templates\n' "$src" >> "$scfg"
"$postier" --config "$scfg" parties import "$sample/data/parties.csv" >/dev/null
"$postier" --config "$scfg" contacts import "$sample/data/contacts.csv" >/dev/null
"$postier" --config "$scfg" documents import "$sample/data/invoices.csv" --type invoice >/dev/null
"$postier" --config "$scfg" run --date 2026-11-23 >/dev/null
# the message closest to the average size (in bytes, as stored: CRLF lines)
read -r avg msgfile < <(/usr/bin/python3 - "$sample/spool/sent/new" <<'EOF'
import os, sys
d = sys.argv[1]
files = [os.path.join(d, n) for n in os.listdir(d)]
if not files:
    sys.exit("bench_smtp: the sample run produced no message")
sizes = {f: os.path.getsize(f) for f in files}
avg = sum(sizes.values()) / len(sizes)
best = min(files, key=lambda f: abs(sizes[f] - avg))
print(round(avg), best)
EOF
)
# smtp-source -F reads lines and sends each with CRLF: give it LF lines
tr -d '\r' < "$msgfile" > "$work/message.eml"
msgsize=$(stat -c %s "$msgfile")

# --- the book and the sink ------------------------------------------------
cfg="$work/config/postier.ini"
/usr/bin/python3 "$src/tests/bench/gen_run.py" "$parties" "$docs" "$work/data"
"$postier" --config "$cfg" init >/dev/null
printf '[store]\ntemplates = %s/templates\n' "$src" >> "$cfg"
"$postier" --config "$cfg" parties import "$work/data/parties.csv" >/dev/null
"$postier" --config "$cfg" contacts import "$work/data/contacts.csv" >/dev/null
"$postier" --config "$cfg" documents import "$work/data/invoices.csv" --type invoice >/dev/null

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# -c: running counters on stdout ("sess=.. quit=.. mesg=N"), to check the count
"$sink_bin" "${sink_user[@]}" -c 127.0.0.1:"$port" 256 > "$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "$sink_pid" 2>/dev/null; then
        echo "bench_smtp: smtp-sink did not start: $(cat "$work/sink.err")" >&2; exit 1
    fi
    sleep 0.05
done
sink_counter() {  # sess | quit | mesg: sessions ended, QUITs, messages received
    tr '\r' '\n' < "$work/sink.out" | grep -o "$1=[0-9]*" | tail -1 | cut -d= -f2 || true
}
sink_count() { sink_counter mesg; }

printf '[email]\ntransport = smtp\n[smtp]\nurl = smtp://127.0.0.1:%d\nconnections = %d\nmax_attempts = 5\ntimeout = 30\nrate_per_second = 0\nrate_per_hour = 0\nstarttls = never\n' \
    "$port" "$conns" >> "$cfg"

# --- postier --------------------------------------------------------------
before=$(sink_count); before=${before:-0}
sess0=$(sink_counter sess); sess0=${sess0:-0}
t0=$(date +%s.%N)
set +e
/usr/bin/time -f "%M %U %S" -o "$work/rss" "$postier" --config "$cfg" run --date 2026-11-23 \
    > "$work/run.out" 2> "$work/run.err"
rc=$?
set -e
t1=$(date +%s.%N)
tail -1 "$work/run.out"
if [ "$rc" != 0 ]; then
    echo "bench_smtp: postier run exited $rc:" >&2; tail -5 "$work/run.err" >&2; exit 1
fi
secs=$(echo "$t1 - $t0" | bc -l)
sleep 0.2
after=$(sink_count); after=${after:-0}
received=$(( after - before ))
sess1=$(sink_counter sess); sess=$(( ${sess1:-0} - sess0 ))
sent=$(sed -n 's/.* \([0-9][0-9]*\) sent.*/\1/p' "$work/run.out" | tail -1)
sent=${sent:-0}
if [ "$sent" != "$received" ]; then
    echo "bench_smtp: warning: postier reports $sent sent but smtp-sink received $received" >&2
fi
prate=$(echo "$received / $secs" | bc -l)
read -r rss cpu_u cpu_s < <(tail -1 "$work/rss")
printf 'postier: %d documents, %d messages in %.2f s = %.0f msg/s, peak RSS %d MB (CPU %.2f s user + %.2f s sys; %d SMTP sessions for %d connections)\n' \
    "$docs" "$received" "$secs" "$prate" "$(( rss / 1024 ))" "$cpu_u" "$cpu_s" "$sess" "$conns"

# --- smtp-source, same count, size, concurrency, sink ---------------------
nmsg=$received
if [ "$nmsg" -le 0 ]; then echo "bench_smtp: nothing was sent" >&2; exit 1; fi
# three runs (wall-clock figures of a loaded machine vary); the median counts
times=()
for _ in 1 2 3; do
    before=$(sink_count); before=${before:-0}
    t0=$(date +%s.%N)
    "$source_bin" -s "$conns" -d -m "$nmsg" -F "$work/message.eml" \
        -f noreply@example.invalid -t compta0@exemple.fr 127.0.0.1:"$port"
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
    sleep 0.2
    after=$(sink_count); after=${after:-0}
    if [ $(( after - before )) != "$nmsg" ]; then
        echo "bench_smtp: warning: smtp-sink received $(( after - before )) of smtp-source's $nmsg" >&2
    fi
done
ssecs=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
srate=$(echo "$nmsg / $ssecs" | bc -l)
printf 'smtp-source: %d messages of %d bytes (postier average %d), %d sessions reusing connections, in %.2f s = %.0f msg/s (median of %s s)\n' \
    "$nmsg" "$msgsize" "$avg" "$conns" "$ssecs" "$srate" "$(printf '%.2f ' "${times[@]}" | sed 's/ $//')"
printf 'ratio: %.2f\n' "$(echo "$prate / $srate" | bc -l)"

# --- the SMTP transport alone: postier's ceiling ----------------------------
# (libcurl, one thread and connection each, the same message, nothing
# rendered, spooled or recorded); BENCH_TRANSPORT is set by meson, or found
# in the build folder next to the postier binary
bt=${BENCH_TRANSPORT:-$(dirname "$postier")/../tests/bench_transport}
if [ -x "$bt" ]; then
    line=$("$bt" "smtp://127.0.0.1:$port" "$msgfile" "$nmsg" "$conns")
    trate=$(echo "$line" | sed -n 's/.*= \([0-9]*\) msg\/s.*/\1/p')
    printf '%s; %.2f of smtp-source; postier end to end = %.2f of it\n' "$line" \
        "$(echo "$trate / $srate" | bc -l)" "$(echo "$prate / $trate" | bc -l)"
fi
