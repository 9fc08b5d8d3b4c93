#!/usr/bin/env bash
# PNG plots, with gnuplot (Debian's gnuplot-nox, installed by scripts/install-deps.sh), of the
# results bench/openloop.sh leaves in its results dirs.
#
#   bench/plot.sh run DIR               DIR/latency.png: every request's latency against its
#                                       send time (answers other than 200 in red);
#                                       DIR/percentiles.png: the latency distribution (vegeta's
#                                       hdrplot: latency at each percentile, log scale)
#   bench/plot.sh sweep OUT.png DIR...  throughput (successful requests/s) and p99 against the
#                                       offered rate, one point per DIR (runs of one scenario
#                                       at several rates)
#   bench/plot.sh --help
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }

command -v gnuplot >/dev/null || ss_die "gnuplot is missing: run scripts/install-deps.sh"
vegeta=$(command -v vegeta || echo "$(ss_cache_dir)/bin/vegeta")

# The title of a run: its RESULT line's scenario and rate.
run_title() {
    sed -n 's/^RESULT scenario=\([^ ]*\) rate=\([^ ]*\) .*/\1 at \2 requests\/s/p' "$1/result.txt"
}

plot_run() {
    local dir=$1 title
    [[ -r "$dir/results.json" && -r "$dir/results.bin" ]] || ss_die "$dir has no results.json and results.bin (bench/openloop.sh writes them)"
    [[ -x "$vegeta" ]] || ss_die "vegeta is missing: run scripts/install-deps.sh"
    title=$(run_title "$dir")
    # Seconds since the first request (the offset of the time zone cancels out), ms, status.
    jq -r '(.timestamp | capture("^(?<s>[^.]+?)(\\.(?<f>[0-9]+))?(?<z>Z|[+-][0-9:]+)$")) as $t
           | [(($t.s + "Z") | fromdateiso8601) + (("0." + ($t.f // "0")) | tonumber),
              .latency / 1e6, .code] | @tsv' "$dir/results.json" |
        awk -F '\t' 'NR == 1 { t0 = $1 } { printf "%.6f\t%.3f\t%d\n", $1 - t0, $2, $3 }' >"$dir/latency.tsv"
    "$vegeta" report -type=hdrplot "$dir/results.bin" >"$dir/percentiles.tsv"
    gnuplot <<EOF
set terminal pngcairo size 1200,700 font ',11' noenhanced
set output '$dir/latency.png'
set title 'Latency over time: $title'
set xlabel 'seconds since the first request'
set ylabel 'latency (ms)'
set logscale y
set grid
set key top left
plot '$dir/latency.tsv' using 1:(\$3 == 200 ? \$2 : 1/0) with points pt 7 ps 0.3 lc rgb '#1f77b4' title '200', \\
     '' using 1:(\$3 != 200 ? \$2 : 1/0) with points pt 7 ps 0.4 lc rgb '#d62728' title 'other status'
set output '$dir/percentiles.png'
set title 'Latency distribution: $title'
set xlabel 'percentile'
set ylabel 'latency (ms)'
unset logscale y
set logscale x
set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000)
set key off
plot '$dir/percentiles.tsv' using 4:1 every ::1 with lines lw 2 lc rgb '#1f77b4'
EOF
    ss_say "wrote $dir/latency.png and $dir/percentiles.png"
}

plot_sweep() {
    local out=$1 dir data
    shift
    (($# > 0)) || usage
    data=$(mktemp)
    trap 'rm -f -- "$data"' RETURN
    for dir in "$@"; do
        [[ -r "$dir/result.txt" ]] || ss_die "$dir has no result.txt (bench/openloop.sh writes it)"
        sed -n 's/^RESULT .* rate=\([^ ]*\) .* throughput=\([^ ]*\) .* p99_ms=\([^ ]*\) .*/\1\t\2\t\3/p' "$dir/result.txt"
    done | sort -n >"$data"
    gnuplot <<EOF
set terminal pngcairo size 1200,700 font ',11' noenhanced
set output '$out'
set title 'Open loop: $(run_title "$1" | sed 's/ at .*//') against the offered rate'
set xlabel 'offered rate (requests/s)'
set ylabel 'successful requests/s'
set y2label 'p99 latency (ms)'
set ytics nomirror
set y2tics
set grid
set key top left
plot '$data' using 1:2 with linespoints pt 7 lw 2 title 'throughput', \\
     '' using 1:3 axes x1y2 with linespoints pt 5 lw 2 title 'p99'
EOF
    ss_say "wrote $out"
}

case "${1:-}" in
run) (($# == 2)) || usage && plot_run "$2" ;;
sweep) (($# >= 3)) || usage && shift && plot_sweep "$@" ;;
-h | --help) usage 0 ;;
*) usage ;;
esac
