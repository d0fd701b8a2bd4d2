#!/usr/bin/env bash
# Large messages: smtp-send (every runtime) against Postfix's smtp-source, both sending to
# benches/sink (a std-only Rust sink far cheaper than either client; Postfix's own smtp-sink is
# the bottleneck at 10 MiB), in one run, so that each runtime gets a ratio to smtp-source that
# survives a noisy machine.
#
#   benches/large.sh                    # REPS=5, N=20 messages of 10 MiB per run
#   REPS=9 N=50 benches/large.sh        # longer runs, more repetitions
#   PROFILE=1 benches/large.sh          # then: syscalls per MiB (strace -c) and hot functions
#                                       # (perf record), for each client
#   SMTP_SEND=path benches/large.sh     # that smtp-send binary, not built (e.g. to compare builds)
#
# Each client sends N copies of one SIZE-byte message (default 10 MiB: headers, then text lines
# of 76 characters + CRLF) over ONE connection:
#   smtp-send --count N --runtime R            (R = blocking, smol, async-std; message from a file)
#   smtp-source -s 1 -d -m N -l SIZE           (its own payload of SIZE bytes: 78 characters +
#                                               CRLF a line, generated in memory, plus ~125 bytes
#                                               of headers; HELO, DATA, no pipelining)
# With SOURCE_FILE=1 (the default) a second smtp-source row sends the same message from a file
# (-F, LF line ends): it reads the file once, at start, and for each message splits it into
# lines again, ends each with CRLF and dot-stuffs (smtp-send reads the file again for each
# copy). It is shown for context; the ratios are to the -l row.
#
# The sink offers PIPELINING, 8BITMIME and SIZE but not CHUNKING, so that every client sends
# DATA and smtp-send dot-stuffs as smtp-source does: the fair comparison, and the one the
# ratios use. With BDAT=1 (the default) smtp-send also runs against a second sink that offers
# CHUNKING (rows marked BDAT: no dot-stuffing, a BDAT reply per 64 KiB chunk); BDAT=0 skips them.
#
# The sinks set TCP_QUICKACK after every read (QUICKACK=0: they do not). smtp-source does not set
# TCP_NODELAY: the short last write of each message waits, under Nagle's algorithm, for the ACK
# of the data before it, which a receiver that delays its ACKs (Linux: up to 40 ms) holds back;
# its wall time then varies from 1x to 5x its CPU time from one run to the next. Quick ACKs give
# smtp-source its best case, steady (smtp-send sets TCP_NODELAY and is not affected), so the
# ratios compare the clients' own costs.
#
# Every repetition runs every client once, in an order rotated from one repetition to the
# next, so that noise from other work on the machine falls on all of them alike. A rate is
# N * SIZE bytes over the wall-clock time of the process (start to exit: connect, QUIT and, for
# smtp-send, the one scan of the file that sizes it, included); the table shows the median of
# REPS runs, the client's CPU time (user + system, from bash's `time`) and the sink's (its
# connection thread's, which it reports) per MiB. "x smtp-source" is the ratio of the medians;
# "paired" is the median of the per-repetition ratios (each against the same repetition's
# smtp-source run).
#
# Needs: cargo, python3 (only to make the message), smtp-source (Debian's `postfix`, see
# .ci/install-test-servers.sh); with PROFILE=1 also strace and perf.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export RUST_BACKTRACE=0

REPS=${REPS:-5}
N=${N:-20}
SIZE=${SIZE:-10485760}
BDAT=${BDAT:-1}
SOURCE_FILE=${SOURCE_FILE:-1}
QUICKACK=${QUICKACK:-1}
PROFILE=${PROFILE:-}
RUNTIMES=(blocking smol async-std)

# ------------------------------------------------------------------ tools

PATH=$PATH:/usr/sbin
if ! command -v smtp-source >/dev/null; then
    echo "large.sh: smtp-source is missing: run .ci/install-test-servers.sh (Debian's postfix)" >&2
    exit 1
fi
command -v python3 >/dev/null || { echo "large.sh: python3 is missing" >&2; exit 1; }
if [[ -n "$PROFILE" ]]; then
    for tool in strace perf; do
        command -v "$tool" >/dev/null || { echo "large.sh: PROFILE=1 needs $tool" >&2; exit 1; }
    done
fi

if [[ -n "${SMTP_SEND:-}" ]]; then
    echo "building benches/sink (release); smtp-send is $SMTP_SEND..." >&2
else
    echo "building smtp-send and benches/sink (release)..." >&2
    nice cargo build --quiet --release -p smtp-tests --example smtp-send
    SMTP_SEND=target/release/examples/smtp-send
fi
nice cargo build --quiet --release --manifest-path benches/sink/Cargo.toml

WORK=$(mktemp -d)
SINK_PIDS=()
cleanup() {
    for pid in "${SINK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Copies: others may rebuild target/ while this runs.
SEND=$WORK/smtp-send
SINK=$WORK/smtp-bench-sink
cp "$SMTP_SEND" "$SEND"
cp benches/sink/target/release/smtp-bench-sink "$SINK"

# ------------------------------------------------------------------ the sinks

# start_sink NAME [--chunking]: starts a sink on a free port; sets SINK_PORT.
start_sink() {
    local name=$1
    shift
    "$SINK" "$@" 127.0.0.1:0 2>"$WORK/$name.log" &
    SINK_PIDS+=($!)
    SINK_PORT=
    for _ in $(seq 100); do
        SINK_PORT=$(sed -n 's/^smtp-bench-sink: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/$name.log")
        [[ -n "$SINK_PORT" ]] && return
        sleep 0.05
    done
    echo "large.sh: the sink did not start:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
}
SINK_FLAGS=()
if [[ "$QUICKACK" == 1 ]]; then SINK_FLAGS=(--quickack); fi
start_sink data "${SINK_FLAGS[@]}"
DATA_PORT=$SINK_PORT
start_sink bdat --chunking "${SINK_FLAGS[@]}"
BDAT_PORT=$SINK_PORT

# ------------------------------------------------------------------ the message

MSG=$WORK/msg.eml
python3 - "$MSG" "$SIZE" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
head = b"From: bench@example.org\r\nTo: sink@example.net\r\nSubject: large benchmark\r\n\r\n"
line = b"x" * 76 + b"\r\n"
body = line * ((size - len(head)) // len(line) + 1)
msg = head + body
msg = msg[: size - 2] + b"\r\n" if len(msg) >= size else msg
with open(path, "wb") as f:
    f.write(msg)
EOF
MSG_LF=$WORK/msg-lf.eml
tr -d '\r' <"$MSG" >"$MSG_LF"

# ------------------------------------------------------------------ the clients

LABELS=()
SINKS=()
CMDS=()
# client LABEL SINK_NAME cmd...: one client (its command line is stored joined by \x1f).
client() {
    local label=$1 sink=$2
    shift 2
    LABELS+=("$label")
    SINKS+=("$sink")
    local IFS=$'\x1f'
    CMDS+=("$*")
}
for rt in "${RUNTIMES[@]}"; do
    client "smtp-send ($rt)" data "$SEND" --server "127.0.0.1:$DATA_PORT" --from a@example.org \
        --to b@example.net --data "$MSG" --count "$N" --runtime "$rt" --json
done
client "smtp-source" data smtp-source -s 1 -d -m "$N" -l "$SIZE" -f a@example.org -t b@example.net \
    "127.0.0.1:$DATA_PORT"
if [[ "$SOURCE_FILE" == 1 ]]; then
    # -F wants LF line ends (a CRLF line would go out as CR CR LF).
    client "smtp-source -F (file)" data smtp-source -s 1 -d -m "$N" -F "$MSG_LF" -f a@example.org \
        -t b@example.net "127.0.0.1:$DATA_PORT"
fi
if [[ "$BDAT" == 1 ]]; then
    for rt in "${RUNTIMES[@]}"; do
        client "smtp-send ($rt, BDAT)" bdat "$SEND" --server "127.0.0.1:$BDAT_PORT" \
            --from a@example.org --to b@example.net --data "$MSG" --count "$N" --runtime "$rt" --json
    done
fi
K=${#LABELS[@]}

# ------------------------------------------------------------------ measuring

RESULTS=$WORK/results.tsv # rep, client index, seconds, client cpu s, sink cpu ms
: >"$RESULTS"

# measure I REP: runs client I once; appends a line to $RESULTS (nothing when it failed).
measure() {
    local i=$1 rep=$2 cmd log lines start end times
    local IFS=$'\x1f'
    # shellcheck disable=SC2206
    cmd=(${CMDS[$i]})
    IFS=$' \t\n'
    log=$WORK/${SINKS[$i]}.log
    lines=$(wc -l <"$log")
    start=$(date +%s%N)
    if ! { TIMEFORMAT='%3U %3S'; time "${cmd[@]}" >"$WORK/out.txt" 2>"$WORK/err.txt"; } 2>"$WORK/time.txt"; then
        echo "large.sh: ${LABELS[$i]} failed:" >&2
        tail -3 "$WORK/err.txt" "$WORK/out.txt" >&2
        return
    fi
    end=$(date +%s%N)
    if [[ "${cmd[0]}" == "$SEND" ]] && ! grep -q '"ok":true' "$WORK/out.txt"; then
        echo "large.sh: ${LABELS[$i]} did not send:" >&2
        tail -3 "$WORK/out.txt" >&2
        return
    fi
    # The sink's line for this connection (written as the connection closes).
    for _ in $(seq 200); do
        (($(wc -l <"$log") > lines)) && break
        sleep 0.01
    done
    local sink_ms
    sink_ms=$(tail -n +"$((lines + 1))" "$log" | sed -n 's/.* cpu_ms \([0-9.]*\).*/\1/p' | tail -1)
    read -r user sys <"$WORK/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$i" "$(awk -v ns=$((end - start)) 'BEGIN { printf "%.6f", ns / 1e9 }')" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" "${sink_ms:-nan}" >>"$RESULTS"
}

echo "warming up (one untimed run of each client)..." >&2
for ((i = 0; i < K; i++)); do measure "$i" 0; done
: >"$RESULTS"

MIB=$(awk -v n="$N" -v s="$SIZE" 'BEGIN { printf "%.6g", n * s / 1048576 }')
echo "measuring: $K clients x REPS=$REPS, N=$N messages of $SIZE bytes ($MIB MiB a run)..." >&2
for ((rep = 1; rep <= REPS; rep++)); do
    for ((j = 0; j < K; j++)); do
        i=$(((j + rep - 1) % K))
        measure "$i" "$rep"
    done
    echo "  repetition $rep/$REPS done" >&2
done

# ------------------------------------------------------------------ the table

SOURCE=-1
for ((i = 0; i < K; i++)); do [[ "${LABELS[$i]}" == smtp-source ]] && SOURCE=$i; done

echo
ACKS=$([[ "$QUICKACK" == 1 ]] && echo "TCP_QUICKACK" || echo "delayed ACKs")
echo "Large messages against benches/sink ($ACKS) on loopback, one connection per client: N=$N messages of $SIZE bytes ($MIB MiB) a run; $(date -u +%Y-%m-%d), $(nproc) CPUs ($(uname -m)), REPS=$REPS (median; min-max)."
echo
echo "| client | MiB/s | min-max | client CPU ms/MiB | sink CPU ms/MiB | x smtp-source | paired |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for ((i = 0; i < K; i++)); do
    awk -F'\t' -v i="$i" -v src="$SOURCE" -v mib="$MIB" -v label="${LABELS[$i]}" '
        function median(a, n,    k, j, t) {
            for (k = 2; k <= n; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $2 == src { srate[$1] = mib / $3; srates[++ns] = mib / $3 }
        $2 == i { n++; rate[n] = mib / $3; rep[n] = $1; cpu[n] = $4 * 1000 / mib; sink[n] = $5 / mib }
        END {
            if (n == 0) { printf "| %s | FAIL | | | | | |\n", label; exit }
            for (k = 1; k <= n; k++) { r[k] = rate[k]; if (rep[k] in srate) pr[++np] = rate[k] / srate[rep[k]] }
            lo = hi = rate[1]; for (k = 2; k <= n; k++) { if (rate[k] < lo) lo = rate[k]; if (rate[k] > hi) hi = rate[k] }
            m = median(r, n); c = median(cpu, n); s = median(sink, n)
            x = ns ? sprintf("%.2f", m / median(srates, ns)) : "-"
            p = np ? sprintf("%.2f", median(pr, np)) : "-"
            printf "| %s | %.0f | %.0f-%.0f | %.2f | %.2f | %s | %s |\n", label, m, lo, hi, c, s, x, p
        }' "$RESULTS"
done | tee "$WORK/table.md"
echo
echo "Requirement: smtp-send (DATA) >= smtp-source on every runtime:"
for rt in "${RUNTIMES[@]}"; do
    awk -F'|' -v l=" smtp-send ($rt) " -v rt="$rt" '$2 == l {
        gsub(/ /, "", $7); gsub(/ /, "", $8)
        v = ($7 + 0 >= 1 ? "ok" : "BELOW")
        printf "  %-10s x %s (paired %s)  %s\n", rt, $7, $8, v
    }' "$WORK/table.md"
done

# ------------------------------------------------------------------ where the time goes

if [[ -z "$PROFILE" ]]; then exit 0; fi

echo
echo "Where the time goes (one run each; PROFILE=1): system calls per MiB (strace -f -c) and the"
echo "hottest functions (perf record -g, self time)."
for ((i = 0; i < K; i++)); do
    IFS=$'\x1f' read -r -a cmd <<<"${CMDS[$i]}"
    echo
    echo "### ${LABELS[$i]}"
    echo
    strace -f -c -o "$WORK/strace.txt" "${cmd[@]}" >/dev/null 2>&1 || true
    echo "system calls per MiB (calls in the run / $MIB MiB):"
    awk -v mib="$MIB" '
        /^-/ || /^%/ || /total/ || NF < 5 { next }
        { calls = $4; name = $NF; printf "  %-16s %8.1f\n", name, calls / mib }' "$WORK/strace.txt" |
        sort -k2 -g -r | head -8 || true
    total=$(awk '/total/ { print $(NF - 2) }' "$WORK/strace.txt")
    awk -v t="${total:-0}" -v mib="$MIB" 'BEGIN { printf "  %-16s %8.1f\n", "(all)", t / mib }'
    if perf record -q -o "$WORK/perf.data" -g "${cmd[@]}" >/dev/null 2>&1; then
        echo "hottest functions (self, % of the client's samples):"
        perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
            grep -E '^ +[0-9]' | head -12 | sed 's/^/  /' || true
    fi
done
