#!/usr/bin/env bash
# bench.sh: the benchmarks of `make bench`, against a built custom CoreDNS.
#
#   bench/bench.sh [./coredns]
#
# 1. dnsperf: one 1,000-name hosts file served by `dockerhosts` and by the
#    built-in `hosts` plugin, each by its own server on a loopback high port,
#    measured alternately (dockerhosts, hosts, dockerhosts, hosts, ...). The
#    servers are pinned to one core, dnsperf to another. Prints each QPS and the
#    ratio dockerhosts/hosts.
# 2. bench/lag: hosts-file update lag through dockerhosts, by atomic rename and
#    by in-place rewrite; p50 and max per method.
# 3. The Go benchmarks of every package.
# 4. bench/docker-lag, when present.
# 5. scale: bench/scale on a SCALE_LINES-line file (two names a line): the
#    hosts plugin and dockerhosts each from process start to every name
#    answering, and VmRSS; dockerhosts under a steady SCALE_QPS load while the
#    whole file is rewritten; SCALE_CHANGES single-line changes, VmRSS before
#    and after. Then bench/lag against a LAG_LINES-line file.
# 6. bench/xfer: AXFR of 10,000 containers, dnsperf beside transfers.
#
# Tunables (environment): BENCH_PARTS ("dnsperf lag go docker-lag scale xfer":
# which of the above to run), SCALE_LINES (500000), SCALE_QPS (10000),
# SCALE_CHANGES (100), LAG_LINES (100000), BENCH_SECONDS (10) per dnsperf run, BENCH_ROUNDS (5) pairs, BENCH_PORT (15353; dockerhosts there, hosts one above), SERVER_CPU (0),
# CLIENT_CPU (1), LAG_N (10) changes per method, BENCH_OUT (bench/out).
# Only 127.0.0.1 ever receives traffic.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/coredns}")
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
parts=" ${BENCH_PARTS:-dnsperf lag go docker-lag scale xfer} "
port_d=${BENCH_PORT:-15353}
port_h=$((port_d + 1))
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
out=${BENCH_OUT:-$repo/bench/out}

say() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }

[[ -x $bin ]] || die "$bin is not an executable; run make build"
command -v dnsperf >/dev/null || die "dnsperf is missing (Debian: apt-get install dnsperf)"
command -v dig >/dev/null || die "dig is missing (Debian: apt-get install bind9-dnsutils)"

pin_server=() pin_client=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	pin_server=(taskset -c "$server_cpu") pin_client=(taskset -c "$client_cpu")
else
	say "WARNING: fewer than 2 cores or no taskset: server and dnsperf share the CPU"
fi

rm -rf "$out" && mkdir -p "$out"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# One hosts file, 1,000 names, and a query for each of them.
hosts=$out/hosts
awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "10.1.%d.%d h%04d.bench.test\n", int(i / 250), 1 + i % 250, i }' >"$hosts"
awk '{ print $2, "A" }' "$hosts" >"$out/queries"

cat >"$out/dockerhosts.Corefile" <<EOC
bench.test:$port_d {
	bind 127.0.0.1
	dockerhosts {
		hostsfile $hosts
	}
}
EOC
cat >"$out/hosts.Corefile" <<EOC
bench.test:$port_h {
	bind 127.0.0.1
	hosts $hosts
}
EOC

declare -A server_pid
start_server() { # name port
	"${pin_server[@]}" "$bin" -quiet -conf "$out/$1.Corefile" >"$out/$1.log" 2>&1 &
	pids+=($!)
	server_pid[$1]=$!
	local pid=$! deadline=$((SECONDS + 15))
	until [[ $(dig +short +time=1 +tries=1 @127.0.0.1 -p "$2" h0001.bench.test A 2>/dev/null) == 10.1.0.2 ]]; do
		kill -0 "$pid" 2>/dev/null || die "$1 server exited: $(cat "$out/$1.log")"
		((SECONDS < deadline)) || die "$1 server on port $2 does not answer h0001.bench.test: $(cat "$out/$1.log")"
		sleep 0.1
	done
}

# cpu_ticks <pid>: user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))

# measure <name> <port> <seconds>: runs dnsperf and prints the queries per
# second and the server's CPU time per query in microseconds. CPU per query
# holds up better than QPS when other work shares the machine.
measure() {
	local log=$out/dnsperf.$1.$((++run)).txt pid=${server_pid[$1]} before after
	before=$(cpu_ticks "$pid")
	"${pin_client[@]}" dnsperf -s 127.0.0.1 -p "$2" -d "$out/queries" -l "$3" >"$log" 2>&1 ||
		die "dnsperf against $1: $(cat "$log")"
	after=$(cpu_ticks "$pid")
	grep -Eq 'NOERROR [0-9]+ \(100\.00%\)' "$log" || die "$1 did not answer every query with NOERROR: $(grep -A3 'Response codes' "$log")"
	awk -v ticks=$((after - before)) -v tick_us="$tick_us" '
		/Queries completed/ { n = $3 }
		/Queries per second/ { qps = $4 }
		END { printf "%d %.2f\n", qps, ticks * tick_us / n }' "$log"
}

part() { [[ $parts == *" $1 "* ]]; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if part dnsperf || part lag; then
	start_server dockerhosts "$port_d"
	start_server hosts "$port_h"
fi

if part dnsperf; then
	say "dnsperf: servers on cpu $server_cpu, dnsperf on cpu $client_cpu, $rounds x ${seconds}s each, $(wc -l <"$out/queries") names"
	run=0
	measure dockerhosts "$port_d" 2 >/dev/null # warm-up
	measure hosts "$port_h" 2 >/dev/null
	d_all=() h_all=() ratios=() cpu_ratios=()
	for ((r = 1; r <= rounds; r++)); do
		read -r d d_cpu < <(measure dockerhosts "$port_d" "$seconds")
		read -r h h_cpu < <(measure hosts "$port_h" "$seconds")
		ratio=$(awk -v a="$d" -v b="$h" 'BEGIN { printf "%.3f", a / b }')
		cpu_ratio=$(awk -v a="$d_cpu" -v b="$h_cpu" 'BEGIN { printf "%.3f", b / a }')
		d_all+=("$d") h_all+=("$h") ratios+=("$ratio") cpu_ratios+=("$cpu_ratio")
		printf 'round %d: dockerhosts %6d qps %5.1f us/q   hosts %6d qps %5.1f us/q   ratio %s (by cpu %s)\n' \
			"$r" "$d" "$d_cpu" "$h" "$h_cpu" "$ratio" "$cpu_ratio"
	done
	d_mean=$(printf '%s\n' "${d_all[@]}" | awk '{ s += $1 } END { printf "%d", s / NR }')
	h_mean=$(printf '%s\n' "${h_all[@]}" | awk '{ s += $1 } END { printf "%d", s / NR }')
	printf 'dnsperf: mean dockerhosts %d qps, hosts %d qps; dockerhosts/hosts: ratio of means %.3f, median ratio %s, median CPU-per-query ratio (hosts/dockerhosts) %s (target >= 1.0)\n' \
		"$d_mean" "$h_mean" "$(awk -v a="$d_mean" -v b="$h_mean" 'BEGIN { print a / b }')" \
		"$(printf '%s\n' "${ratios[@]}" | median)" "$(printf '%s\n' "${cpu_ratios[@]}" | median)"
fi

if part lag; then
	say "hosts-file update lag through dockerhosts (target p50 <= 10ms, max <= 50ms)"
	(cd "$repo" && go build -o "$out/lag" ./bench/lag)
	"${pin_client[@]}" "$out/lag" -server "127.0.0.1:$port_d" -file "$hosts" -name lag.bench.test -n "${LAG_N:-10}"
fi
cleanup
pids=()

if part go; then
	say "Go benchmarks"
	(cd "$repo" && go test -run='^$' -bench=. -benchmem ./...) | grep -v '^ok\|no test files' || true
fi

if part scale; then
	say "scale: ${SCALE_LINES:-500000}-line hosts file, hosts vs dockerhosts (server on cpu $server_cpu, client on cpu $client_cpu)"
	(cd "$repo" && go build -o "$out/scale" ./bench/scale && go build -o "$out/lag" ./bench/lag)
	server_pin=()
	((${#pin_server[@]})) && server_pin=(-server-cpu "$server_cpu")
	"${pin_client[@]}" "$out/scale" -coredns "$bin" -dir "$out/scale.d" -port $((port_d + 10)) "${server_pin[@]}" \
		-lines "${SCALE_LINES:-500000}" -qps "${SCALE_QPS:-10000}" -changes "${SCALE_CHANGES:-100}"

	lag_lines=${LAG_LINES:-100000}
	say "hosts-file update lag through dockerhosts, $lag_lines-line file (target p50 <= 10ms, max <= 50ms)"
	awk -v n="$lag_lines" 'BEGIN { print "10.1.0.2 h0001.bench.test"; for (i = 0; i < n; i++) printf "10.%d.%d.%d h%d.bench.test a%d.svc.bench.test\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256, i, i }' >"$out/hosts.large"
	sed "s|$hosts|$out/hosts.large|" "$out/dockerhosts.Corefile" >"$out/large.Corefile"
	start_server large "$port_d"
	"${pin_client[@]}" "$out/lag" -server "127.0.0.1:$port_d" -file "$out/hosts.large" -name lag.bench.test -n "${LAG_N:-10}"
	cleanup
	pids=()
fi

if part docker-lag && [[ -d $repo/bench/docker-lag ]]; then
	say "Docker event-to-answer lag"
	if [[ -x $repo/bench/docker-lag/run.sh ]]; then
		COREDNS=$bin "$repo/bench/docker-lag/run.sh"
	else
		(cd "$repo" && COREDNS=$bin go run ./bench/docker-lag)
	fi
	say "Docker event-to-answer lag, two engine sources"
	(cd "$repo" && COREDNS=$bin go run ./bench/docker-lag -engines 2 -sync 0)
fi

if part xfer; then
	say "zone transfers: AXFR of 10,000 containers, dnsperf beside transfers"
	(cd "$repo" && go build -o "$out/xfer" ./bench/xfer)
	"${pin_client[@]}" "$out/xfer" -coredns "$bin" -seconds "$seconds" -server-cpu "$server_cpu" -client-cpu "$client_cpu"
fi
