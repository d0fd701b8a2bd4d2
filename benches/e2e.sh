#!/usr/bin/env bash
# End-to-end throughput of smtp-send (every runtime) beside its peers, all against one Postfix
# `smtp-sink` on loopback, in one run, so that every figure comes with a ratio that survives a
# noisy machine.
#
#   benches/e2e.sh                  # the full run (a few minutes)
#   QUICK=1 benches/e2e.sh          # a smoke run: small counts, one repetition
#
# For 1 KiB, 100 KiB and 10 MiB messages, each client sends N copies of one message over ONE
# connection: smtp-send --count N (blocking, smol, async-std), Python smtplib
# (benches/smtplib_send.py), Postfix's smtp-source (-s 1 -d -m N -l SIZE), and lettre 0.11 and
# mail-send (benches/peers, its own workspace, never built by `cargo test --workspace`) with and
# without TCP_NODELAY. Rates are wall-clock (process start to exit, connect and QUIT included),
# the median of REPS runs; peak RSS is /usr/bin/time's maximum resident set size. Runs without
# TCP_NODELAY send far fewer messages (Nagle's algorithm meets delayed ACKs: ~40 ms a command).
# Finally, the peak RSS of smtp-send sending one 100 MiB message from a file, per runtime.
#
# Needs: cargo, python3, smtp-sink and smtp-source (Debian's `postfix`, see
# .ci/install-test-servers.sh), GNU time (installed with apt-get when missing and root).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export RUST_BACKTRACE=0

REPS=${REPS:-3}
if [[ -n "${QUICK:-}" ]]; then
    REPS=1
    SIZES=("1KiB 1024 2000 50" "100KiB 102400 200 20" "10MiB 10485760 5 3")
else
    # label, bytes, N (pipelining-capable or TCP_NODELAY clients), N without TCP_NODELAY
    SIZES=("1KiB 1024 20000 100" "100KiB 102400 2000 100" "10MiB 10485760 20 5")
fi
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
smtp-sink "${SINK_USER[@]}" "127.0.0.1:$PORT" 256 >"$WORK/sink.log" 2>&1 &
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

RESULTS=$WORK/results.tsv
: >"$RESULTS"

# run LABEL SIZE_LABEL BYTES COUNT cmd... : REPS runs; records the median rate and the peak RSS.
run() {
    local label=$1 size=$2 bytes=$3 count=$4
    shift 4
    local rates=() rss=0 failed=
    for _ in $(seq "$REPS"); do
        local start end kib
        start=$(date +%s%N)
        if ! /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; then
            failed=1
            echo "e2e.sh: $label ($size) failed:" >&2
            tail -3 "$WORK/err.txt" >&2
            break
        fi
        end=$(date +%s%N)
        rates+=("$(awk -v n="$count" -v ns=$((end - start)) 'BEGIN { printf "%.1f", n / (ns / 1e9) }')")
        kib=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
        if ((kib > rss)); then rss=$kib; fi
    done
    if [[ -n "$failed" ]]; then
        printf '%s\t%s\t%s\t%s\tFAIL\tFAIL\tFAIL\n' "$label" "$size" "$bytes" "$count" >>"$RESULTS"
        return
    fi
    local median
    median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    awk -v l="$label" -v s="$size" -v b="$bytes" -v n="$count" -v r="$median" -v k="$rss" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\n", l, s, b, n, r, r * b / 1048576, k / 1024 }' >>"$RESULTS"
    printf '  %-28s %-7s %8s msgs/s\n' "$label" "$size" "$median" >&2
}

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

# ------------------------------------------------------------------ 100 MiB from a file

BIG=$WORK/big.eml
make_message "$BIG" $((BIG_MIB * 1024 * 1024))
RSS_LINES=()
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

# ------------------------------------------------------------------ the table

cpus=$(nproc)
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
    }' "$RESULTS"
echo
echo "Peak RSS sending one ${BIG_MIB} MiB message from a file (target: under 16 MiB):"
echo
echo "| client | peak RSS (MiB) | verdict |"
echo "| --- | ---: | --- |"
printf '%s\n' "${RSS_LINES[@]}"
