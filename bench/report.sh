#!/usr/bin/env bash
# Runs the benchmarks and draws their figures as PNG plots with gnuplot, into docs/plots/, and
# rewrites the "Plots" block of docs/benchmarks.md (between its report markers) to show them, each
# with the command and the machine under it. Never fails on time; about 20 minutes in all.
#   docs/plots/write-ratio.png       put's cost: business transaction with put / without, per store and mode
#   docs/plots/relay-throughput.png  relay and the raw client of each sink, per store and sink
#   docs/plots/latency.png           commit -> acknowledged latency distributions (cumulative)
#   docs/plots/backlog.png           relay throughput and peak RSS as the backlog grows (10k, 100k, 1M)
# The figures each plot is drawn from are kept beside it (*.dat), and every program's full output
# in docs/plots/logs/.
# Usage: bench/report.sh [BUILD_DIR] [--quick] [--skip PART,...]
#   BUILD_DIR  a Release build with OUTBOX_BUILD_BENCH=ON (default build-bench; see docs/benchmarks.md)
#   --quick    fewer rounds and messages, and no 1M backlog: to check the script, not for figures
#   --skip     leave out parts: write, postgres, relay, kafka, redis, nats, rabbitmq, webhook,
#              latency, backlog (a plot whose data is all skipped keeps its last figures)
# Needs gnuplot (Debian gnuplot-nox) and what each part's servers need (scripts/install-deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
quick=0
skip=","
usage="usage: bench/report.sh [BUILD_DIR] [--quick] [--skip PART,...]"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --skip) skip=",${2:-},"; shift 2 ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option $1; $usage" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
build=$(cd "$build" 2>/dev/null && pwd) || { echo "no build folder '$build'; $usage" >&2; exit 2; }
bin="$build/bench"
[[ -x "$bin/outbox_bench_write" ]] || { echo "missing $bin/outbox_bench_write: build with -DOUTBOX_BUILD_BENCH=ON first (see docs/benchmarks.md)" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "gnuplot not found: apt-get install gnuplot-nox (scripts/install-deps.sh lists it)" >&2; exit 2; }

plots="$root/docs/plots"
logs="$plots/logs"
mkdir -p "$logs"
run=$(mktemp -d /tmp/outbox-report.XXXXXX)
pg_state="$run/postgres"
cleanup() { "$root/scripts/postgres/stop.sh" --state "$pg_state" >/dev/null 2>&1 || true; rm -rf "$run"; }
trap cleanup EXIT

wanted() { [[ "$skip" != *",$1,"* ]]; }
step() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# Runs a program with its output in logs/NAME.txt (and a line of progress per 30 s of silence).
# The plots whose data this run measured (the others keep their figures and their run's notes).
declare -A measured=()
record() {
  local name="$1"; shift
  case "$name" in
    write-*) measured[write-ratio]=1 ;;
    relay-*) measured[relay-throughput]=1 ;;
    kafka|redis|nats|rabbitmq|webhook*) measured[relay-throughput]=1; measured[latency]=1 ;;
    latency-*) measured[latency]=1 ;;
    backlog-*) measured[backlog]=1 ;;
  esac
  step "$name: $*"
  ( while sleep 30; do step "$name: still running"; done ) &
  local ticker=$!
  local rc=0
  "$@" >"$logs/$name.txt" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    step "$name failed (exit $rc); its output is in $logs/$name.txt; the report goes on without it"
  fi
}
machine() {
  echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
}
export OUTBOX_BENCH_SAMPLES="$run/latency-samples.txt"
: >"$OUTBOX_BENCH_SAMPLES"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$quick" -eq 1 ]; then
  write_flags=(--rounds 4 --round-ms 150); pg_flags=(--rounds 3 --round-ms 250); relay_flags=(--messages 20000 --reps 1)
  latency_flags=(--seconds 4); backlog=(10000 100000)
else
  write_flags=(); pg_flags=(); relay_flags=(--reps 3); latency_flags=(); backlog=(10000 100000 1000000)
fi

pg_up=0
start_postgres() {
  [ "$pg_up" -eq 1 ] && return 0
  "$root/scripts/postgres/start.sh" --state "$pg_state" --fresh --durable --logical >"$logs/postgres-server.txt" 2>&1 ||
    { step "PostgreSQL did not start: see $logs/postgres-server.txt"; return 1; }
  # shellcheck disable=SC1091
  source "$pg_state/env"
  pg_up=1
}

# ---- 1. Write ratio: business transaction with put / without -------------------------------------
if wanted write; then
  record write-sqlite "$bin/outbox_bench_write" "${write_flags[@]}"
fi
if wanted postgres && wanted write && start_postgres; then
  record write-postgres "$bin/outbox_bench_pg_write" "${pg_flags[@]}" --wake-clients= --index-clients=
fi
# "label" ratio, from the RATIO lines of both programs.
{
  sed -n 's/.*RATIO with\/without put (synchronous=\([A-Z]*\)): \([0-9.]*\).*/"SQLite\\n\1" \2/p' \
    "$logs/write-sqlite.txt" 2>/dev/null || true
  sed -n -e 's/.*RATIO with\/without put (\([0-9]*\) clients*): \([0-9.]*\).*/"PostgreSQL\\n\1 conn." \2/p' \
    -e 's/.*RATIO with\/without put, \([A-Za-z ]*\) (\([0-9]*\) clients*): \([0-9.]*\).*/"PostgreSQL\\n\2 conn.\\n\1" \3/p' \
    "$logs/write-postgres.txt" 2>/dev/null | sed 's/prepared statement/prepared/' || true
} >"$run/write-ratio.dat"
[ -n "${measured[write-ratio]:-}" ] && [ -s "$run/write-ratio.dat" ] && cp "$run/write-ratio.dat" "$plots/write-ratio.dat"

# ---- 2. Relay throughput per store and sink ------------------------------------------------------
if wanted relay; then
  record relay-sqlite "$bin/outbox_bench_relay" --variants null,file "${relay_flags[@]}"
  if wanted postgres && start_postgres; then
    record relay-postgres "$bin/outbox_bench_relay" --postgres --variants null,file "${relay_flags[@]}"
  fi
fi
for sink in kafka redis nats rabbitmq; do
  wanted "$sink" || continue
  case "$sink" in
    kafka) if wanted postgres && start_postgres; then record kafka "$root/bench/run_kafka.sh" "$build"
           else record kafka "$root/bench/run_kafka.sh" "$build" --sources sqlite; fi ;;
    *) record "$sink" "$root/bench/run_$sink.sh" "$build" ;;
  esac
done
if wanted webhook; then
  record webhook "$bin/outbox_bench_webhook"
  record webhook-latency "$bin/outbox_bench_webhook" --mode latency
fi
# "label" relay_msg_s raw_msg_s: each "relay SOURCE -> SINK:" line with the raw client's figure
# printed before it (for Redis the last one, MULTI/EXEC, the fair baseline: docs/redis.md).
{
  for f in relay-sqlite relay-postgres; do
    [ -f "$logs/$f.txt" ] || continue
    src=$([ "$f" = relay-sqlite ] && echo SQLite || echo PostgreSQL)
    awk -v src="$src" '/^  relay -> (null|file):/ { for (i = 1; i < NF; i++) if ($(i + 1) == "msg/s") r = $i;
         s = $3; sub(":", "", s); printf "\"%s\\n-> %s\" %s 0\n", src, s, r }' "$logs/$f.txt"
  done
  for f in kafka redis nats rabbitmq webhook; do
    [ -f "$logs/$f.txt" ] || continue
    awk '/^  raw .*msg\/s/ { for (i = 1; i < NF; i++) if ($(i + 1) == "msg/s") raw = $i }
         /^  relay .* -> .*:.*msg\/s/ { for (i = 1; i < NF; i++) if ($(i + 1) == "msg/s") r = $i;
           label = $0; sub(/^  relay /, "", label); sub(/:.*/, "", label); sub(/ -> /, "\\n-> ", label);
           sub(/^sqlite/, "SQLite", label); sub(/^postgres/, "PostgreSQL", label);
           printf "\"%s\" %s %s\n", label, r, raw }' "$logs/$f.txt"
  done
} >"$run/relay-throughput.dat"
[ -n "${measured[relay-throughput]:-}" ] && [ -s "$run/relay-throughput.dat" ] && cp "$run/relay-throughput.dat" "$plots/relay-throughput.dat"

# ---- 3. Commit -> acknowledged latency (the sink benchmarks above added their samples) ----------
if wanted latency; then
  record latency-sqlite-full "$bin/outbox_bench_latency" --sync FULL "${latency_flags[@]}"
  record latency-sqlite-normal "$bin/outbox_bench_latency" --sync NORMAL "${latency_flags[@]}"
  if wanted postgres && start_postgres; then
    record latency-postgres "$bin/outbox_bench_latency" --postgres "${latency_flags[@]}"
  fi
fi
# At most 400 points per distribution: every sample would make the plot's data megabytes.
# Labels: "Kafka-acknowledged, SQLite source, linger.ms=0 [kafka]": the sink's scheme in brackets.
awk '/^# / { if (n) flush(); label = $0; sub(/^# commit -> /, "# ", label); sub(/ latency/, "", label);
       scheme = "in-process"; if (match(label, /\(timed [a-z]+/)) scheme = substr(label, RSTART + 7, RLENGTH - 7);
       sub(/ \(timed .*\)$/, "", label); sub(/ \(in-process sink\)$/, "", label); label = label " [" scheme "]"; n = 0; next }
     NF == 2 { x[++n] = $1; y[n] = $2 }
     function flush(  i, step) { print label; step = n > 400 ? n / 400 : 1;
       for (i = 1; i <= n; i += step) print x[int(i)], y[int(i)]; print x[n], y[n]; print ""; print ""; n = 0 }
     END { if (n) flush() }' "$OUTBOX_BENCH_SAMPLES" >"$run/latency.dat"
[ -n "${measured[latency]:-}" ] && [ -s "$run/latency.dat" ] && cp "$run/latency.dat" "$plots/latency.dat"

# ---- 4. Relay throughput and RSS as the backlog grows --------------------------------------------
if wanted backlog; then
  : >"$run/backlog.dat"
  for n in "${backlog[@]}"; do
    record "backlog-sqlite-$n" "$bin/outbox_bench_relay" --variants null --reps 1 --messages "$n"
    rate=$(sed -n 's/.*RELAY THROUGHPUT SQLite to null: \([0-9]*\) msg\/s.*/\1/p' "$logs/backlog-sqlite-$n.txt")
    rss=$(sed -n 's/.*peak RSS of this whole process, prefill included: \([0-9]*\) kB.*/\1/p' "$logs/backlog-sqlite-$n.txt")
    [ -n "$rate" ] && [ -n "$rss" ] && echo "$n $rate $rss" >>"$run/backlog.dat"
  done
  [ -s "$run/backlog.dat" ] && cp "$run/backlog.dat" "$plots/backlog.dat"
fi

# ---- Plots ---------------------------------------------------------------------------------------
step "drawing the plots"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
note="$started, commit $commit$([ "$quick" -eq 1 ] && echo ', --quick'); $(machine); load average $load_start at the start, $load_end at the end"
gp() { gnuplot -e "set terminal pngcairo size 1100,560 font ',10' noenhanced" -e "$1"; }
if [ -s "$plots/write-ratio.dat" ]; then
  gp "set output '$plots/write-ratio.png'; set title 'Business transaction with put / without (1.0 = the put is free)';
      set style data histograms; set style fill solid 0.7 border -1; set boxwidth 0.7; set yrange [0:*];
      set grid ytics; set ylabel 'throughput ratio'; set xtics font ',9'; unset key; set bmargin 6;
      set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2;
      plot '$plots/write-ratio.dat' using 2:xtic(1) lc rgb '#4477aa', '' using 0:(\$2+0.03):(sprintf('%.2f',\$2)) with labels"
fi
if [ -s "$plots/relay-throughput.dat" ]; then
  gp "set output '$plots/relay-throughput.png'; set title 'Relay throughput per store and sink (messages/s), beside the raw client of the sink';
      set style data histograms; set style histogram clustered gap 1; set style fill solid 0.7 border -1;
      set logscale y; set yrange [1000:*]; set grid ytics; set ylabel 'messages/s (log scale)'; set xtics font ',8';
      set bmargin 5;
      set key top right;
      plot '$plots/relay-throughput.dat' using 2:xtic(1) title 'relay' lc rgb '#4477aa',
           '' using (\$3 > 0 ? \$3 : 1/0) title 'raw client, same run' lc rgb '#cccccc'"
fi
if [ -s "$plots/latency.dat" ]; then
  # One line per data set, titled by its "# label" line.
  curves=""
  i=0
  while IFS= read -r label; do
    label=${label#\# }
    curves+="${curves:+, }'$plots/latency.dat' index $i using 1:2 with lines lw 2 title '${label//\'/}'"
    i=$((i + 1))
  done < <(grep '^# ' "$plots/latency.dat")
  gp "set output '$plots/latency.png'; set title 'Commit -> acknowledged latency at 1,000 msg/s (cumulative share of messages)';
      set logscale x; set xlabel 'milliseconds (log scale)'; set ylabel 'share of messages'; set yrange [0:1];
      set grid; set key outside right font ',8'; plot $curves"
fi
if [ -s "$plots/backlog.dat" ]; then
  gp "set output '$plots/backlog.png'; set title 'SQLite -> null: relay throughput and peak RSS as the backlog grows';
      set logscale x; set xlabel 'messages in the backlog (log scale)'; set ylabel 'messages/s'; set y2label 'peak RSS (MB)';
      set ytics nomirror; set y2tics; set yrange [0:*]; set y2range [0:*]; set grid; set key top left;
      plot '$plots/backlog.dat' using 1:2 with linespoints lw 2 title 'throughput (msg/s)',
           '' using 1:(\$3/1024) axes x1y2 with linespoints lw 2 title 'peak RSS of the process (MB)'"
fi
# The machine line belongs to the run that measured: kept when every part was skipped.
# (if, not &&: under set -e a false test as the last substitution of an assignment ends the script)
cmdline="bench/report.sh$(if [ "$quick" -eq 1 ]; then echo ' --quick'; fi)$(if [ "$skip" != "," ]; then echo " --skip ${skip:1:-1}"; fi)"
# PLOT.run: the report command and the machine of the run that measured the plot's figures.
for p in "${!measured[@]}"; do printf '%s\n%s\n' "$cmdline" "$note" >"$plots/$p.run"; done

# ---- The block in docs/benchmarks.md ------------------------------------------------------------
doc="$root/docs/benchmarks.md"
if grep -q '^<!-- report:begin -->' "$doc"; then
  block="$run/block.md"
  {
    echo "<!-- report:begin -->"
    echo "Each plot's figures are in \`docs/plots/*.dat\`, every program's output of its run in \`docs/plots/logs/\`."
    for p in write-ratio relay-throughput latency backlog; do
      [ -f "$plots/$p.png" ] || continue
      echo
      echo "![$p](plots/$p.png)"
      echo
      case "$p" in
        write-ratio) echo "Command: \`outbox_bench_write\` (SQLite) and \`outbox_bench_pg_write --wake-clients= --index-clients=\` (PostgreSQL 15, fsync on), A/B rounds alternating; the ratio of totals." ;;
        relay-throughput) echo "Command: \`outbox_bench_relay --variants null,file\` (and \`--postgres\`), \`bench/run_kafka.sh\`, \`run_redis.sh\`, \`run_nats.sh\`, \`run_rabbitmq.sh\`, \`outbox_bench_webhook\`; medians of the runs; the raw client runs in the same program, alternating with the relay (Redis: MULTI/EXEC)." ;;
        latency) echo "Command: the latency modes of the sink benchmarks above (writer in another process, 1,000 msg/s for 15 s) and \`outbox_bench_latency --sync FULL|NORMAL\` (and \`--postgres\`)." ;;
        backlog) echo "Command: \`outbox_bench_relay --variants null --reps 1 --messages N\` for each N; RSS is the whole benchmark process's VmHWM, its prefill included." ;;
      esac
      echo "Drawn from the figures of \`$(sed -n 1p "$plots/$p.run" 2>/dev/null)\`; machine: $(sed -n 2p "$plots/$p.run" 2>/dev/null)."
    done
    echo "<!-- report:end -->"
  } >"$block"
  awk -v block="$block" '/^<!-- report:begin -->/ { while ((getline l < block) > 0) print l; skipping = 1; next }
       /^<!-- report:end -->/ { skipping = 0; next } !skipping' "$doc" >"$run/doc.md"
  cp "$run/doc.md" "$doc"
  step "updated the plots block of docs/benchmarks.md"
else
  step "docs/benchmarks.md has no '<!-- report:begin -->' line; the plots are in $plots"
fi
step "done: $(ls "$plots"/*.png 2>/dev/null | wc -l) plots in $plots"
