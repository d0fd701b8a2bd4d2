#!/usr/bin/env bash
# End-to-end throughput of smtp-send (every runtime) beside its peers, all against one Postfix
# `smtp-sink` on loopback, in one run, so that every figure comes with a ratio that survives a
# noisy machine.
#
#   benches/e2e.sh                  # the full run (a few minutes)
#   QUICK=1 benches/e2e.sh          # a smoke run: small counts, one repetition
#   SECTIONS=pool benches/e2e.sh    # only some sections (comma-separated): single, rss, pool;
#                                   # default all three
#
# Section `single`:
# For 1 KiB, 100 KiB and 10 MiB messages, each client sends N copies of one message over ONE
# connection: smtp-send --count N (blocking, smol, async-std), Python smtplib
# (benches/smtplib_send.py), Postfix's smtp-source (-s 1 -d -m N -l SIZE), and lettre 0.11 and
# mail-send (benches/peers, its own workspace, never built by `cargo test --workspace`) with and
# without TCP_NODELAY. Rates are wall-clock (process start to exit, connect and QUIT included),
# the median of REPS runs; peak RSS is /usr/bin/time's maximum resident set size. Runs without
# TCP_NODELAY send far fewer messages (Nagle's algorithm meets delayed ACKs: ~40 ms a command).
#
# Section `rss`: the peak RSS of smtp-send sending one 100 MiB message from a file, per runtime.
#
# Section `pool`: 1 KiB messages over N = 1, 4 and 16 parallel connections (POOL_N) to the same
# sink: smtp-send --count C --connections N (every runtime; N = 1 is the one-connection
# pipelined path, N > 1 the library's pool, which opens one more connection first to check the
# set-up), smtp-source -s N -d -m C -l 1024, lettre's pool (benches/peers `lettre-pool N`: N
# tokio tasks on a multi-thread runtime sharing AsyncSmtpTransport with PoolConfig max_size N)
# and N lettre connections with TCP_NODELAY (`lettre-conns N`, the same tasks without the
# pool). C = 20,000 (QUICK: 2,000); lettre's pool never sets TCP_NODELAY, so its every message
# waits for a delayed ACK (~25 msgs/s a connection) and it sends POOL_NAGLE_PER_CONN × N
# messages instead. smtp-send rows fail unless its JSON summary says sent == C. Besides the
# rates, the table gives the CPU time per message of each client (user + system, from
# /usr/bin/time) and of the sink (from /proc, over the same runs): client and sink share the
# machine's CPUs, so on a small machine their sum bounds the rate.
#
# Needs: cargo, python3, smtp-sink and smtp-source (Debian's `postfix`, see
# .ci/install-test-servers.sh), GNU time (installed with apt-get when missing and root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export RUST_BACKTRACE=0

REPS=${REPS:-3}
SECTIONS=${SECTIONS:-single,rss,pool}
POOL_N=(1 4 16)
if [[ -n "${QUICK:-}" ]]; then
    REPS=1
    SIZES=("1KiB 1024 2000 50" "100KiB 102400 200 20" "10MiB 10485760 5 3")
    POOL_COUNT=2000
    POOL_NAGLE_PER_CONN=25
else
    # label, bytes, N (pipelining-capable or TCP_NODELAY clients), N without TCP_NODELAY
    SIZES=("1KiB 1024 20000 100" "100KiB 102400 2000 100" "10MiB 10485760 20 5")
    POOL_COUNT=20000
    POOL_NAGLE_PER_CONN=100
fi

for section in ${SECTIONS//,/ }; do
    case $section in
        single | rss | pool) ;;
        *)
            echo "e2e.sh: unknown section '$section' in SECTIONS (single, rss, pool)" >&2
            exit 2
            ;;
    esac
done
# section NAME: whether SECTIONS names it.
section() { [[ " ${SECTIONS//,/ } " == *" $1 "* ]]; }
BIG_MIB=100
RSS_TARGET_KIB=$((16 * 1024))

# ------------------------------------------------------------------ tools

if [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && apt-get install -y -qq time >/dev/null
    else
        echo "e2e.sh: GNU time (/usr/bin/time) is missing: apt-get install time" >&2
        exit 1
    fi
fi
for tool in smtp-sink smtp-source; do
    if ! command -v "$tool" >/dev/null && [[ ! -x /usr/sbin/$tool ]]; then
        echo "e2e.sh: $tool is missing: run .ci/install-test-servers.sh (Debian's postfix)" >&2
        exit 1
    fi
done
PATH=$PATH:/usr/sbin
command -v python3 >/dev/null || { echo "e2e.sh: python3 is missing" >&2; exit 1; }

echo "building smtp-send (release) and the peer clients..." >&2
cargo build --quiet --release -p smtp-tests --example smtp-send
cargo build --quiet --release --manifest-path benches/peers/Cargo.toml
SEND=$ROOT/target/release/examples/smtp-send
PEERS=$ROOT/benches/peers/target/release/smtp-bench-peers

WORK=$(mktemp -d)
SINK_PID=
cleanup() {
    if [[ -n "$SINK_PID" ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------------ the server

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SINK_USER=()
if [[ $(id -u) -eq 0 ]]; then SINK_USER=(-u nobody); fi
# -m: at most 256 simultaneous sessions (the default, explicit here: the pool section opens up
# to 16 + 1); the last argument is the listen backlog.
smtp-sink "${SINK_USER[@]}" -m 256 "127.0.0.1:$PORT" 256 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# ------------------------------------------------------------------ messages

# A message of exactly $2 bytes: headers, then 78-byte lines (76 characters + CRLF).
make_message() {
    python3 - "$1" "$2" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
head = b"From: bench@example.org\r\nTo: sink@example.net\r\nSubject: e2e benchmark\r\n\r\n"
line = b"x" * 76 + b"\r\n"
body = line * ((size - len(head)) // len(line) + 1)
msg = head + body
msg = msg[: size - 2] + b"\r\n" if len(msg) >= size else msg
with open(path, "wb") as f:
    f.write(msg)
EOF
}

# ------------------------------------------------------------------ measuring

SINGLE_RESULTS=$WORK/results.tsv
POOL_RESULTS=$WORK/pool.tsv
: >"$SINGLE_RESULTS"
: >"$POOL_RESULTS"
RESULTS=$SINGLE_RESULTS # where run() appends; each section sets it
CLK_TCK=$(getconf CLK_TCK)

# The sink's CPU time so far (user + system), in clock ticks.
sink_ticks() { awk '{ print $14 + $15 }' "/proc/$SINK_PID/stat"; }

# run LABEL SIZE_LABEL BYTES COUNT cmd... : REPS runs; appends to $RESULTS the median rate, the
# peak RSS and the mean CPU seconds of the client and of the sink per run. A run whose standard
# output ends with a JSON summary (smtp-send --json) fails unless it says "sent": COUNT.
run() {
    local label=$1 size=$2 bytes=$3 count=$4
    shift 4
    local rates=() rss=0 failed= cpu=0 sink_cpu=0
    for _ in $(seq "$REPS"); do
        local start end kib ticks0 ticks1 summary
        ticks0=$(sink_ticks)
        start=$(date +%s%N)
        if ! /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; then
            failed=1
            echo "e2e.sh: $label ($size) failed:" >&2
            tail -3 "$WORK/err.txt" >&2
            break
        fi
        end=$(date +%s%N)
        ticks1=$(sink_ticks)
        summary=$(tail -1 "$WORK/out.txt")
        if [[ $summary == "{"* && $summary != *"\"sent\":$count,"* && $summary != *"\"sent\":$count}"* ]]; then
            failed=1
            echo "e2e.sh: $label ($size) did not send $count messages: $summary" >&2
            break
        fi
        rates+=("$(awk -v n="$count" -v ns=$((end - start)) 'BEGIN { printf "%.1f", n / (ns / 1e9) }')")
        kib=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
        if ((kib > rss)); then rss=$kib; fi
        cpu=$(awk -F': ' -v c="$cpu" '/(User|System) time \(seconds\)/ { c += $2 } END { print c }' "$WORK/time.txt")
        sink_cpu=$(awk -v c="$sink_cpu" -v t=$((ticks1 - ticks0)) -v hz="$CLK_TCK" 'BEGIN { print c + t / hz }')
    done
    if [[ -n "$failed" ]]; then
        printf '%s\t%s\t%s\t%s\tFAIL\tFAIL\tFAIL\tFAIL\tFAIL\n' "$label" "$size" "$bytes" "$count" >>"$RESULTS"
        return
    fi
    local median
    median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    awk -v l="$label" -v s="$size" -v b="$bytes" -v n="$count" -v r="$median" -v k="$rss" \
        -v c="$cpu" -v sc="$sink_cpu" -v reps="$REPS" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\n", l, s, b, n, r, r * b / 1048576, k / 1024, c / reps, sc / reps }' >>"$RESULTS"
    printf '  %-28s %-7s %8s msgs/s\n' "$label" "$size" "$median" >&2
}

# ------------------------------------------------------------------ one connection per client

RESULTS=$SINGLE_RESULTS
if section single; then
    for spec in "${SIZES[@]}"; do
        read -r size bytes n n_nagle <<<"$spec"
        msg=$WORK/msg-$size.eml
        make_message "$msg" "$bytes"
        echo "$size messages (N=$n; $n_nagle without TCP_NODELAY)..." >&2
        for rt in blocking smol async-std; do
            run "smtp-send ($rt)" "$size" "$bytes" "$n" \
                "$SEND" --server "127.0.0.1:$PORT" --from bench@example.org --to sink@example.net \
                --data "$msg" --count "$n" --runtime "$rt" --json
        done
        run "Python smtplib" "$size" "$bytes" "$n" python3 benches/smtplib_send.py 127.0.0.1 "$PORT" "$n" "$msg"
        # smtp-source: one session (-s 1), the connection kept (-d), N messages of SIZE payload bytes.
        run "smtp-source" "$size" "$bytes" "$n" \
            smtp-source -s 1 -d -m "$n" -l "$bytes" -f bench@example.org -t sink@example.net "127.0.0.1:$PORT"
        for peer in lettre mail-send; do
            run "$peer (TCP_NODELAY)" "$size" "$bytes" "$n" "$PEERS" "$peer" nodelay 127.0.0.1 "$PORT" "$n" "$msg"
        done
        for peer in lettre mail-send; do
            run "$peer (default)" "$size" "$bytes" "$n_nagle" "$PEERS" "$peer" default 127.0.0.1 "$PORT" "$n_nagle" "$msg"
        done
    done
fi

# ------------------------------------------------------------------ 100 MiB from a file

RSS_LINES=()
if section rss; then
    BIG=$WORK/big.eml
    make_message "$BIG" $((BIG_MIB * 1024 * 1024))
    for rt in blocking smol async-std; do
        if /usr/bin/time -v -o "$WORK/time.txt" "$SEND" --server "127.0.0.1:$PORT" --from bench@example.org \
            --to sink@example.net --data "$BIG" --runtime "$rt" --json >"$WORK/out.txt" 2>"$WORK/err.txt"; then
            kib=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
            verdict=$([[ $kib -lt $RSS_TARGET_KIB ]] && echo "under 16 MiB" || echo "OVER 16 MiB")
            RSS_LINES+=("$(awk -v r="$rt" -v k="$kib" -v v="$verdict" 'BEGIN { printf "| smtp-send (%s) | %.1f | %s |", r, k / 1024, v }')")
        else
            RSS_LINES+=("| smtp-send ($rt) | FAIL | $(tail -1 "$WORK/err.txt") |")
        fi
    done
fi

# ------------------------------------------------------------------ N parallel connections

RESULTS=$POOL_RESULTS
if section pool; then
    msg=$WORK/msg-pool.eml
    make_message "$msg" 1024
    for n in "${POOL_N[@]}"; do
        echo "1KiB messages over $n connection(s) (C=$POOL_COUNT; lettre's pool $((POOL_NAGLE_PER_CONN * n)))..." >&2
        for rt in blocking smol async-std; do
            run "smtp-send ($rt)" "$n" 1024 "$POOL_COUNT" \
                "$SEND" --server "127.0.0.1:$PORT" --from bench@example.org --to sink@example.net \
                --data "$msg" --count "$POOL_COUNT" --connections "$n" --runtime "$rt" --json
        done
        run "smtp-source" "$n" 1024 "$POOL_COUNT" \
            smtp-source -s "$n" -d -m "$POOL_COUNT" -l 1024 -f bench@example.org -t sink@example.net "127.0.0.1:$PORT"
        run "lettre N conns (TCP_NODELAY)" "$n" 1024 "$POOL_COUNT" \
            "$PEERS" lettre-conns "$n" 127.0.0.1 "$PORT" "$POOL_COUNT" "$msg"
        run "lettre pool (default)" "$n" 1024 $((POOL_NAGLE_PER_CONN * n)) \
            "$PEERS" lettre-pool "$n" 127.0.0.1 "$PORT" $((POOL_NAGLE_PER_CONN * n)) "$msg"
    done
fi

# ------------------------------------------------------------------ the tables

cpus=$(nproc)
if section single; then
    echo
    echo "End-to-end against Postfix smtp-sink on loopback, one connection per client; $(date -u +%Y-%m-%d), $cpus CPUs ($(uname -m)), REPS=$REPS (median)."
    echo
    echo "| client | size | N | msgs/s | MiB/s | peak RSS (MiB) | × best of lettre/mail-send (NODELAY) | × smtp-source |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '
        { row[NR] = $0; label[NR] = $1; size[NR] = $2; rate[NR] = $5 }
        $1 ~ /TCP_NODELAY/ && $5 != "FAIL" && $5 + 0 > best[$2] + 0 { best[$2] = $5 }
        $1 == "smtp-source" && $5 != "FAIL" { source[$2] = $5 }
        END {
            for (i = 1; i <= NR; i++) {
                split(row[i], f, "\t")
                vb = (rate[i] != "FAIL" && best[size[i]] > 0) ? sprintf("%.2f", rate[i] / best[size[i]]) : "-"
                vs = (rate[i] != "FAIL" && source[size[i]] > 0) ? sprintf("%.2f", rate[i] / source[size[i]]) : "-"
                printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[4], f[5], f[6], f[7], vb, vs
            }
        }' "$SINGLE_RESULTS"
fi
if section rss; then
    echo
    echo "Peak RSS sending one ${BIG_MIB} MiB message from a file (target: under 16 MiB):"
    echo
    echo "| client | peak RSS (MiB) | verdict |"
    echo "| --- | ---: | --- |"
    printf '%s\n' "${RSS_LINES[@]}"
fi
if section pool; then
    echo
    echo "1 KiB messages over N parallel connections to one Postfix smtp-sink on loopback; $(date -u +%Y-%m-%d), $cpus CPUs ($(uname -m)), REPS=$REPS (median rate; CPU time per message, user + system, averaged over the runs: the client's from /usr/bin/time, the sink's from /proc over the same runs). Best peer: smtp-source or lettre (pool or N connections) at that N."
    echo
    echo "| client | N | messages | msgs/s | × best peer at N | × smtp-send (blocking) N=1 | client CPU (µs/msg) | sink CPU (µs/msg) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '
        { row[NR] = $0; n[NR] = $2; rate[NR] = $5 }
        $1 !~ /^smtp-send/ && $5 != "FAIL" && $5 + 0 > best[$2] + 0 { best[$2] = $5 }
        $1 == "smtp-send (blocking)" && $2 == 1 && $5 != "FAIL" { own = $5 }
        END {
            for (i = 1; i <= NR; i++) {
                split(row[i], f, "\t")
                vb = (rate[i] != "FAIL" && best[n[i]] > 0) ? sprintf("%.2f", rate[i] / best[n[i]]) : "-"
                vo = (rate[i] != "FAIL" && own > 0) ? sprintf("%.2f", rate[i] / own) : "-"
                cpu = (rate[i] != "FAIL") ? sprintf("%.1f", f[8] / f[4] * 1e6) : "-"
                sink = (rate[i] != "FAIL") ? sprintf("%.1f", f[9] / f[4] * 1e6) : "-"
                printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[4], f[5], vb, vo, cpu, sink
            }
        }' "$POOL_RESULTS"
fi
