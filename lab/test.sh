#!/usr/bin/env bash
# lab/test.sh: end-to-end test of the dockerhosts lab (`make lab-test`).
#
# Brings up lab/docker-compose.yml under a project name unique to the run,
# starts HAProxy on the host with lab/haproxy.cfg, and checks that:
#   1. HAProxy follows appsrv1 by name across a restart that forces a new
#      address (a squatter takes the old one), within 5 s, without a reload,
#      and never sends a request to the squatter;
#   2. HAProxy follows the compose service appsrv.<project>.docker as it
#      scales from 1 to 3 replicas and back;
#   3. the host resolves the containers through the published port;
#   4. names outside docker. resolve through forward to the lab's upstream.
# Every wait is a poll with a deadline. Everything started here (compose
# project, squatter, HAProxy, load loop, images) is removed on exit, pass or
# fail; a failure first prints the HAProxy log, the resolver log and docker ps.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB=$ROOT/lab

# Compose 1.x keeps only [a-z0-9_-] of a project name, and the name becomes a
# DNS label (appsrv.<project>.docker): lower-case letters and digits only.
RUN=${LAB_RUN:-dhlab$(date +%s)$$}
export COMPOSE_PROJECT_NAME=$RUN LAB_TAG=$RUN
export DOCKER_GID=${DOCKER_GID:-$(stat -c %g /var/run/docker.sock)}
export LAB_DNS_PORT=${LAB_DNS_PORT:-5300}
export LAB_HEALTH_PORT=${LAB_HEALTH_PORT:-58080}
export LAB_READY_PORT=${LAB_READY_PORT:-58181}
export LAB_METRICS_PORT=${LAB_METRICS_PORT:-59153}
export LAB_HAPROXY_APP1_PORT=${LAB_HAPROXY_APP1_PORT:-18081}
export LAB_HAPROXY_SVC_PORT=${LAB_HAPROXY_SVC_PORT:-18082}
export LAB_HAPROXY_STATS_PORT=${LAB_HAPROXY_STATS_PORT:-18404}
LAB_BUILD_IMAGES=${LAB_BUILD_IMAGES:-make -C $ROOT lab-images}
LAB_COMPOSE=${LAB_COMPOSE:-docker-compose}

LAB_SUBNET=10.213.77.0/24 # as in docker-compose.yml
NET=${RUN}_lab
RESOLVER_IMAGE=dockerhosts/coredns:$RUN
APPSRV_IMAGE=dockerhosts/appsrv:$RUN
SQUATTER=${RUN}-squatter
UPSTREAM_NAME=www.example.test UPSTREAM_ADDR=10.11.12.13 # as in stub.Corefile
WORK=$(mktemp -d "/tmp/$RUN.XXXXXX")
HAPROXY_PID='' LOAD_PID=''
T_BEGIN=$(date +%s%3N)

now_ms() { date +%s%3N; }
log() { printf '%s  %s\n' "$(date +%T.%3N)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
compose() { $LAB_COMPOSE -f "$LAB/docker-compose.yml" "$@"; }

# wait_until SECONDS WHAT CMD...: poll CMD until it succeeds; fail after
# SECONDS. Sets WAITED_MS.
wait_until() {
	local secs=$1 what=$2
	shift 2
	local start deadline
	start=$(now_ms)
	deadline=$((start + secs * 1000))
	until "$@"; do
		(($(now_ms) < deadline)) || fail "$what: still false after ${secs}s"
		sleep 0.1
	done
	WAITED_MS=$(($(now_ms) - start))
	log "ok: $what (${WAITED_MS} ms)"
}

# The address of a container on the lab network.
container_ip() {
	docker inspect -f "{{with index .NetworkSettings.Networks \"$NET\"}}{{.IPAddress}}{{end}}" "$1"
}

# dig_short NAME [TYPE]: the answer's records, sorted, one per line.
dig_short() {
	dig +short +time=1 +tries=1 -p "$LAB_DNS_PORT" @127.0.0.1 "$1" "${2:-A}" | sort
}
dig_status() {
	dig +time=1 +tries=1 -p "$LAB_DNS_PORT" @127.0.0.1 "$1" "${2:-A}" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'
}
# resolves_to NAME ADDR...: the A answer is exactly these addresses.
resolves_to() {
	local name=$1
	shift
	[[ "$(dig_short "$name")" == "$(printf '%s\n' "$@" | sort)" ]]
}
# record_is NAME TYPE RDATA: the answer is exactly one record, RDATA.
record_is() { [[ "$(dig_short "$1" "$2")" == "$3" ]]; }
# reverse_name A.B.C.D: D.C.B.A.in-addr.arpa.
reverse_name() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo "$d.$c.$b.$a.in-addr.arpa."
}
# not_resolves_to NAME ADDR: the server answers, and not with ADDR.
not_resolves_to() {
	local out
	out=$(dig_short "$1") || return 1
	! grep -qxF "$2" <<<"$out"
}

# get PORT: one request through HAProxy; prints "<body> code=<status>".
get() {
	printf '%s\n' "$(curl -s -m 2 -w ' code=%{http_code}' "http://127.0.0.1:$1/" | tr -d '\n')"
}
app1_answers() { [[ $(get "$LAB_HAPROXY_APP1_PORT") == "name=appsrv1 addr=$1 code=200" ]]; }
# answers URL LINE: a GET of URL, straight to a container, returns LINE.
answers() { [[ $(curl -s -m 1 "$1") == "$2" ]]; }

# haproxy_field BACKEND SERVER FIELD: one field of /stats;csv.
haproxy_field() {
	curl -s -m 2 "http://127.0.0.1:$LAB_HAPROXY_STATS_PORT/stats;csv" |
		awk -F, -v px="$1" -v sv="$2" -v f="$3" '
			NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) if ($i == f) c = i; next }
			$1 == px && $2 == sv { print $c }'
}
# haproxy_not_at ADDR: HAProxy's app1 server exists and is not at ADDR (it
# has moved, or is in MAINT (resolution) with no address).
haproxy_not_at() {
	local row
	row=$(haproxy_field app1 app1 status)
	[[ -n $row && "$(haproxy_field app1 app1 addr)" != "$1:8080" ]]
}

# spread PORT N NAME...: N requests through HAProxy all succeed, all come from
# the given replicas, and every one of them answers at least once.
spread() {
	local port=$1 n=$2 line name i re='^name=([^ ]+) addr=[^ ]+ code=200$'
	shift 2
	declare -A want=() seen=()
	for name in "$@"; do want[$name]=1; done
	for ((i = 0; i < n; i++)); do
		line=$(get "$port")
		[[ $line =~ $re ]] || return 1
		[[ -n ${want[${BASH_REMATCH[1]}]:-} ]] || return 1
		seen[${BASH_REMATCH[1]}]=1
	done
	((${#seen[@]} == $#))
}

# The running appsrv replicas (docker ps: much faster than docker-compose ps),
# their hostnames (short container IDs, what appsrv answers) and addresses.
replicas() {
	docker ps -q --filter "label=com.docker.compose.project=$RUN" \
		--filter label=com.docker.compose.service=appsrv
}
replica_hosts() {
	local id
	for id in $(replicas); do docker inspect -f '{{.Config.Hostname}}' "$id"; done
}
replica_ips() {
	local id
	for id in $(replicas); do container_ip "$id"; done
}

healthy() { [[ $(docker inspect -f '{{.State.Health.Status}}' "$1") == healthy ]]; }
lines_at_least() { (($(wc -l <"$1") >= $2)); }

diagnostics() {
	log "---- HAProxy log ($WORK/haproxy.log)"
	tail -n 100 "$WORK/haproxy.log" 2>/dev/null || true
	log "---- HAProxy servers"
	curl -s -m 2 "http://127.0.0.1:$LAB_HAPROXY_STATS_PORT/stats;csv" 2>/dev/null |
		awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "addr") c = i } $2 != "FRONTEND" { print $1, $2, $18, $c }' || true
	log "---- resolver log"
	local id
	id=$(compose ps -q resolver 2>/dev/null || true)
	[[ -n $id ]] && docker logs --tail 200 "$id" 2>&1
	log "---- docker ps -a"
	docker ps -a
}

cleanup() {
	local rc=$?
	set +e
	# Finish the teardown even if interrupted again (a second Ctrl-C).
	trap - EXIT
	trap '' INT TERM
	if [[ -n $LOAD_PID ]]; then kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; fi
	((rc == 0)) || diagnostics
	log "teardown"
	if [[ -n $HAPROXY_PID ]]; then kill "$HAPROXY_PID" 2>/dev/null; wait "$HAPROXY_PID" 2>/dev/null; fi
	docker rm -f "$SQUATTER" >/dev/null 2>&1
	compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
	docker rmi "$RESOLVER_IMAGE" "$APPSRV_IMAGE" >/dev/null 2>&1
	rm -rf "$WORK"
	# Prove it: nothing of this run is left.
	local left
	left=$(
		docker ps -aq --filter "label=com.docker.compose.project=$RUN"
		docker ps -aq --filter "name=^/$SQUATTER\$"
		docker network ls -q --filter "name=^$NET\$"
		docker images -q --filter "reference=dockerhosts/*:$RUN"
		[[ -n $HAPROXY_PID ]] && kill -0 "$HAPROXY_PID" 2>/dev/null && echo "haproxy $HAPROXY_PID"
	)
	if [[ -n $left ]]; then
		log "teardown left behind: $left"
		((rc == 0)) && rc=1
	else
		log "teardown: nothing left behind"
	fi
	if ((rc == 0)); then
		log "PASS ($((($(now_ms) - T_BEGIN) / 1000)) s)"
	else
		log "FAIL (exit $rc)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "run $RUN"

# ---- prerequisites: CI starts from a fresh machine ------------------------
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	sudo=()
	((EUID == 0)) || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "$(haproxy -v | head -n 1)"

# Refuse to run on top of a previous lab instead of failing half-way.
for net in $(docker network ls -q); do
	if grep -qwF "$LAB_SUBNET" <<<"$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$net")"; then
		fail "network $(docker network inspect -f '{{.Name}}' "$net") already uses $LAB_SUBNET; remove it (make lab-down, or docker-compose -p <project> down)"
	fi
done
if docker inspect appsrv1 >/dev/null 2>&1; then fail "a container named appsrv1 already exists"; fi

# ---- images and lab ------------------------------------------------------
t=$(now_ms)
log "building images (tag $RUN)"
$LAB_BUILD_IMAGES LAB_TAG="$RUN" >"$WORK/build.log" 2>&1 || {
	cat "$WORK/build.log"
	fail "image build"
}
T_BUILD=$(($(now_ms) - t))
log "ok: images built (${T_BUILD} ms)"

t=$(now_ms)
compose up -d 2>&1 | sed 's/^/    /'
wait_until 30 "resolver ready (/ready 200: first Docker sync done)" \
	curl -fs -m 1 -o /dev/null "http://127.0.0.1:$LAB_READY_PORT/ready"
RESOLVER=$(compose ps -q resolver)
wait_until 30 "resolver container healthy" healthy "$RESOLVER"
T_UP=$(($(now_ms) - t))
curl -fs -m 1 -o /dev/null "http://127.0.0.1:$LAB_HEALTH_PORT/health" || fail "/health"
grep -q '^coredns_' <<<"$(curl -fs -m 1 "http://127.0.0.1:$LAB_METRICS_PORT/metrics")" || fail "/metrics"
log "ok: /health, /metrics"

APP1_IP=$(container_ip appsrv1)
SVC_IP=$(replica_ips)
[[ -n $APP1_IP && -n $SVC_IP ]] || fail "no addresses for the app containers"
wait_until 5 "appsrv1 answers on $APP1_IP" answers "http://$APP1_IP:8080/" "name=appsrv1 addr=$APP1_IP"

# ---- 3. the host resolves container names --------------------------------
wait_until 5 "host: appsrv1.docker -> $APP1_IP (container name)" resolves_to appsrv1.docker "$APP1_IP"
wait_until 5 "host: appsrv.$RUN.docker -> $SVC_IP (compose service.project)" resolves_to "appsrv.$RUN.docker" "$SVC_IP"
# The compose container name: <project>_appsrv_1 (Compose 1) or <project>-appsrv-1 (Compose 2).
SVC_NAME=$(docker inspect -f '{{.Name}}' "$(replicas)")
SVC_NAME=${SVC_NAME#/}
wait_until 5 "host: $SVC_NAME.docker -> $SVC_IP (compose container name)" resolves_to "$SVC_NAME.docker" "$SVC_IP"
wait_until 5 "host: SRV _http._tcp.appsrv.$RUN.docker -> $SVC_NAME.docker:8080 (label dockerhosts.srv)" \
	record_is "_http._tcp.appsrv.$RUN.docker" SRV "10 10 8080 $SVC_NAME.docker."
wait_until 5 "host: PTR $APP1_IP -> appsrv1.docker." record_is "$(reverse_name "$APP1_IP")" PTR appsrv1.docker.
[[ $(dig_status nosuch.docker) == NXDOMAIN ]] || fail "nosuch.docker is not NXDOMAIN"
log "ok: nosuch.docker -> NXDOMAIN"

# ---- 4. names outside docker. go to the upstream --------------------------
wait_until 5 "host: $UPSTREAM_NAME -> $UPSTREAM_ADDR (forward to the stub upstream)" \
	resolves_to "$UPSTREAM_NAME" "$UPSTREAM_ADDR"

# The Corefile's safe defaults.
grep -q 'Transfer failed' <<<"$(dig +time=1 +tries=1 -p "$LAB_DNS_PORT" @127.0.0.1 docker. AXFR)" ||
	fail "AXFR docker. is not refused"
log "ok: AXFR docker. refused"
grep -q 'RFC 8482' <<<"$(dig_short appsrv1.docker ANY)" || fail "ANY is not answered minimally (RFC 8482)"
log "ok: ANY answered with the RFC 8482 HINFO"

# ---- HAProxy on the host ---------------------------------------------------
haproxy -c -q -f "$LAB/haproxy.cfg" || fail "haproxy.cfg does not validate"
haproxy -db -f "$LAB/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
wait_until 10 "HAProxy serves appsrv1 at $APP1_IP" app1_answers "$APP1_IP"
wait_until 10 "HAProxy serves appsrv.$RUN.docker" spread "$LAB_HAPROXY_SVC_PORT" 3 "$(replica_hosts)"

# ---- 1. restart with a forced address change -----------------------------
for i in $(seq 20); do app1_answers "$APP1_IP" || fail "request $i through HAProxy"; done
log "ok: 20 requests through HAProxy, all from appsrv1 at $APP1_IP"

# Background load: one request every 50 ms, for the whole restart.
(while :; do get "$LAB_HAPROXY_APP1_PORT"; sleep 0.05; done) >"$WORK/app1.log" 2>/dev/null &
LOAD_PID=$!

OLD=$APP1_IP
docker stop -t 5 appsrv1 >/dev/null
log "appsrv1 stopped"
wait_until 5 "DNS no longer gives appsrv1 at $OLD" not_resolves_to appsrv1.docker "$OLD"
wait_until 10 "HAProxy no longer sends appsrv1 traffic to $OLD" haproxy_not_at "$OLD"
log "HAProxy app1: $(haproxy_field app1 app1 status), addr '$(haproxy_field app1 app1 addr)'"
docker run -d --name "$SQUATTER" --network "$NET" --ip "$OLD" -e APP_NAME=squatter \
	--label "dockerhosts.lab.run=$RUN" "$APPSRV_IMAGE" >/dev/null
wait_until 5 "squatter holds $OLD" answers "http://$OLD:8080/" "name=squatter addr=$OLD"

t=$(now_ms)
docker start appsrv1 >/dev/null
NEW=$(container_ip appsrv1)
[[ -n $NEW && $NEW != "$OLD" ]] || fail "appsrv1 did not get a new address ($OLD -> $NEW)"
log "appsrv1 started at $NEW (was $OLD)"
wait_until 5 "HAProxy reaches appsrv1 at $NEW" app1_answers "$NEW"
T_SWITCH=$(($(now_ms) - t))
log "ok: HAProxy followed the new address ${T_SWITCH} ms after docker start"
[[ $(wc -l <"$WORK/app1.log") -gt 0 ]] || fail "no background requests recorded"
switched=$(wc -l <"$WORK/app1.log")
wait_until 10 "40 more requests after the switch" lines_at_least "$WORK/app1.log" $((switched + 40))
kill "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=
kill -0 "$HAPROXY_PID" || fail "HAProxy exited"

total=$(wc -l <"$WORK/app1.log")
from_squatter=$(grep -c 'name=squatter' "$WORK/app1.log" || true)
failed=$(grep -vc 'code=200$' "$WORK/app1.log" || true)
after_bad=$(tail -n +"$((switched + 1))" "$WORK/app1.log" | grep -vcxF "name=appsrv1 addr=$NEW code=200" || true)
log "background: $total requests, $failed failed while appsrv1 was down, $from_squatter from the squatter, $after_bad wrong after the switch"
((from_squatter == 0)) || fail "HAProxy sent $from_squatter requests to the squatter at $OLD"
((after_bad == 0)) || fail "$after_bad requests after the switch were not served by appsrv1 at $NEW"
log "ok: the old address got nothing through HAProxy; same HAProxy process ($HAPROXY_PID), no reload"

# ---- 2. scaling the compose service --------------------------------------
# scale_to N WHAT: scale appsrv to N replicas, then wait until DNS answers
# exactly their addresses and HAProxy spreads requests over exactly them.
# Sets SCALED_MS: how long that took after docker-compose returned.
scale_to() {
	local n=$1 what=$2 t hosts ips
	compose up -d --no-recreate --scale "appsrv=$n" appsrv 2>&1 | sed 's/^/    /'
	t=$(now_ms)
	mapfile -t hosts < <(replica_hosts)
	mapfile -t ips < <(replica_ips)
	((${#hosts[@]} == n)) || fail "expected $n appsrv replicas, have ${#hosts[@]}"
	wait_until 10 "DNS: appsrv.$RUN.docker -> ${ips[*]}" resolves_to "appsrv.$RUN.docker" "${ips[@]}"
	wait_until 10 "HAProxy $what (${hosts[*]})" spread "$LAB_HAPROXY_SVC_PORT" 9 "${hosts[@]}"
	SCALED_MS=$(($(now_ms) - t))
}
scale_to 3 "spreads over 3 replicas"
T_SCALE_UP=$SCALED_MS
scale_to 1 "sends everything to the remaining replica"
T_SCALE_DOWN=$SCALED_MS
kill -0 "$HAPROXY_PID" || fail "HAProxy exited"

log "timings: build ${T_BUILD} ms, up+ready ${T_UP} ms, restart follow ${T_SWITCH} ms, scale 1->3 followed ${T_SCALE_UP} ms and 3->1 ${T_SCALE_DOWN} ms after docker-compose returned"
log "all checks passed"
