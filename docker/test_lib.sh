# docker/test.sh's steps, sourced by it (it sets pm, say, image, name, volume, work, TOKEN).
# Every check prints PASS or FAIL with what it saw; a step whose precondition fails (the
# server does not come up) stops the run, printing the container's log.
passed=0; failed=0

check() {
	what=$1; shift
	if "$@"; then passed=$((passed + 1)); echo "PASS $what"
	else failed=$((failed + 1)); echo "FAIL $what"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "PASS $1"
	else failed=$((failed + 1)); echo "FAIL $1: expected '$2', got '$3'"; fi
}
fatal() {
	echo "FAIL $*"
	for c in "$name-1" "$name-2"; do
		pm container exists "$c" 2>/dev/null && { echo "--- podman logs $c"; pm logs --tail 40 "$c" 2>&1; }
	done
	exit 1
}

# api METHOD PATH [JSON-BODY]: the answer's body on stdout, with the admin token.
api() {
	if [ $# -ge 3 ]; then
		curl -sS --max-time 60 -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
			--data-binary "$3" "$url$2"
	else
		curl -sS --max-time 60 -X "$1" -H "Authorization: Bearer $TOKEN" "$url$2"
	fi
}
# A process's stdout, raw (byte-exact).
raw_stdout() {
	curl -sS --max-time 60 -H "Authorization: Bearer $TOKEN" -H 'Accept: application/octet-stream' \
		"$url/processes/$1/output?stream=stdout"
}
# The HTTP status of METHOD PATH sent with extra curl arguments.
status_of() { m=$1; p=$2; shift 2; curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X "$m" "$@" "$url$p"; }

# podman schedules health checks with systemd timers and complains where there is no systemd
# (a container, CI): the test runs the image's check itself (podman healthcheck run), so those
# lines are left out of what podman says.
quiet_systemd() { grep -v 'unable to get systemd connection' >&2 || true; }

# run_container N [podman run options...]: container NAME-N on the volume, port on loopback.
run_container() {
	n=$1; shift
	c=$name-$n
	say "podman run $c: the volume at /var/lib/spawnd, the token file at /run/secrets/spawnd_tokens, port 8080 on 127.0.0.1"
	pm run -d --name "$c" -p 127.0.0.1::8080 -v "$volume:/var/lib/spawnd" \
		-v "$work/tokens:/run/secrets/spawnd_tokens:ro" --stop-timeout 10 "$@" "$image" >/dev/null 2>"$work/err" ||
		{ cat "$work/err" >&2; fatal "podman run $c"; }
	quiet_systemd <"$work/err"
	url=http://$(pm port "$c" 8080/tcp | head -n 1)
	say "waiting for $url/healthz (30 s at most)"
	i=0
	until curl -sf --max-time 2 "$url/healthz" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -le 150 ] || fatal "$c did not answer /healthz within 30 s"
		sleep 0.2
	done
	check "$c: PID 1 is spawnd" test "$(pm exec "$c" cat /proc/1/comm)" = spawnd
	check_eq "$c: runs as uid 10001" 10001 "$(pm exec "$c" id -u)"
	check "$c: the image's HEALTHCHECK (spawnd healthcheck) passes" pm healthcheck run "$c"
	check_eq "$c: no token: 401" 401 "$(status_of GET /processes)"
	check_eq "$c: a wrong token: 401" 401 "$(status_of GET /processes -H 'Authorization: Bearer not-the-token-at-all')"
}

# Records started before the stop, for records_survive(): "ID EXITCODE" lines, and each
# one's stdout in $work/out.ID.
remember() {
	printf '%s %s\n' "$1" "$2" >>"$work/records"
	raw_stdout "$1" >"$work/out.$1"
}

seed_scenarios() {
	say "seed scenarios: 5 workers run and joined in one round trip (?wait=5), each prints Worker"
	: >"$work/records"
	for i in 1 2 3 4 5; do
		r=$(api POST '/processes?wait=5' '{"target": "worker"}')
		check_eq "worker $i: stdout Worker, exit code 0" "true 0" "$(printf "%s\n" "$r" | jq -r '"\(.stdout == "Worker\n") \(.exitcode)"')"
		remember "$(printf "%s\n" "$r" | jq -r .id)" 0
	done
	say "seed scenarios: 5 workers with an argument started at once, then joined: Worker: 0 ... Worker: 4"
	ids=""
	for i in 0 1 2 3 4; do ids="$ids $(api POST /processes "{\"target\": \"worker\", \"args\": [$i]}" | jq -r .id)"; done
	i=0
	for id in $ids; do
		r=$(api POST "/processes/$id/join")
		check_eq "worker $i joined" "Worker: $i 0" "$(printf "%s\n" "$r" | jq -r '.stdout | rtrimstr("\n")') $(printf "%s\n" "$r" | jq .exitcode)"
		remember "$id" 0; i=$((i + 1))
	done
	say "seed scenarios: exit codes, and the image's example targets (exec, Python, plugin)"
	one() {   # one NAME BODY EXPECTED-STDOUT EXPECTED-EXITCODE
		r=$(api POST '/processes?wait=10' "$2")
		check_eq "$1" "$3|$4" "$(printf "%s\n" "$r" | jq -r '.stdout | rtrimstr("\n")')|$(printf "%s\n" "$r" | jq .exitcode)"
		remember "$(printf "%s\n" "$r" | jq -r .id)" "$4"
	}
	one "exit code 3" '{"target": "exit", "args": {"code": 3}}' "" 3
	one "exec target printf (examples/targets.json)" '{"target": "printf", "args": [4]}' "Worker: 4" 0
	one "Python target py_worker (examples/python)" '{"target": "py_worker", "args": [7]}' "Worker: 7" 0
	one "plugin target plugin_worker (examples/plugin_worker.c)" '{"target": "plugin_worker", "args": [3]}' "Worker: 3" 0
	say "seed scenarios: a sleep 60 terminated: exitcode -15"
	id=$(api POST /processes '{"target": "sleep", "args": [60], "name": "nap"}' | jq -r .id)
	api POST "/processes/$id/terminate" >/dev/null
	check_eq "terminated sleep" "-15 terminate" "$(api POST "/processes/$id/join" | jq -r '"\(.exitcode) \(.reason)"')"
	remember "$id" -15
}

follow_stream() {
	say "follow: ticker count=3 interval=0.3, read live (NDJSON) until its exit line"
	id=$(api POST /processes '{"target": "ticker", "args": {"count": 3, "interval": 0.3}}' | jq -r .id)
	api GET "/processes/$id/output?follow=true" >"$work/follow"
	check_eq "followed stdout" "tick 1|tick 2|tick 3|" \
		"$(jq -j 'select(.stream == "stdout") | .data' "$work/follow" | tr '\n' '|')"
	check_eq "the stream ends with the exit line" "exit 0" "$(tail -n 1 "$work/follow" | jq -r '"\(.event) \(.exitcode)"')"
	remember "$id" 0
}

# stop_gracefully N: a worker is still running; podman stop sends SIGTERM, spawnd ends it
# (after shutdown_timeout, 5 s) and exits 0 before the 10 s stop timeout's SIGKILL.
stop_gracefully() {
	c=$name-$1
	id=$(api POST /processes '{"target": "sleep", "args": [60]}' | jq -r .id)
	[ "$1" = 1 ] && printf '%s %s\n' "$id" -15 >>"$work/records"
	say "podman stop -t 10 $c (SIGTERM) with a sleep 60 running"
	t0=$(date +%s)
	pm stop -t 10 "$c" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; fatal "podman stop $c"; }
	quiet_systemd <"$work/err"
	took=$(( $(date +%s) - t0 ))
	check_eq "$c: exit code after SIGTERM (took ${took} s, stop timeout 10 s)" 0 "$(pm inspect --format '{{.State.ExitCode}}' "$c")"
	check "$c: stopped before the stop timeout" test "$took" -lt 10
	check "$c: its log ends with the graceful stop" logged_stop "$c"
}

logged_stop() { pm logs --tail 3 "$1" 2>&1 | grep -q 'msg="stopped"'; }

records_survive() {
	say "restart: every record of the first container is found again, with its output"
	total=$(wc -l <"$work/records")
	ok=0
	while read -r id code; do
		r=$(api GET "/processes/$id")
		got=$(printf "%s\n" "$r" | jq -r '"\(.exitcode) \(.alive)"')
		raw_stdout "$id" >"$work/again.$id"
		if [ "$got" = "$code false" ] && { [ ! -f "$work/out.$id" ] || cmp -s "$work/out.$id" "$work/again.$id"; }; then
			ok=$((ok + 1))
		else
			echo "  $id: expected exitcode $code, got: $r"
		fi
	done <"$work/records"
	check_eq "records found again with their exit code and stdout" "$total" "$ok"
	check_eq "the listing has them all" "$total" "$(api GET '/processes?limit=1000' | jq '.processes | length')"
}

# Zombies inside the container: every /proc/PID/stat whose state is Z.
zombies_in() { pm exec "$1" sh -c 'for f in /proc/[0-9]*/stat; do read -r l <"$f" 2>/dev/null && echo "$l"; done' |
	sed 's/^.*) //' | awk '$1 == "Z"' | wc -l; }

# gone_in CONTAINER PID: true when PID (a number) no longer exists in the container.
gone_in() { case "$2" in ''|*[!0-9]*) return 1 ;; esac; ! pm exec "$1" test -e "/proc/$2"; }

no_zombies() {
	c=$name-2
	say "zombies: a worker that double-forks (its grandchild, a sleep 1, is orphaned in the fork server)"
	r=$(api POST '/processes?wait=10' '{"target": "doublefork"}')
	gpid=$(printf "%s\n" "$r" | jq -r '.stdout | rtrimstr("\n")')
	check_eq "doublefork exited" 0 "$(printf "%s\n" "$r" | jq .exitcode)"
	say "zombies: an orphan of a podman exec shell, reparented to PID 1 (spawnd)"
	pm exec "$c" sh -c '(sleep 1 &); exit 0'
	sleep 2
	check "the double-forked grandchild (pid $gpid in the container) was reaped" gone_in "$c" "$gpid"
	check_eq "zombies in the container" 0 "$(zombies_in "$c")"
}

# docker/compose.yaml run by podman-compose, as `docker compose up` runs it: the token comes
# from the compose secret, the port is on loopback, the state on the compose volume.
compose() {
	SPAWND_IMAGE=$image SPAWND_PORT=${compose_port:-8080} SPAWND_TOKENS_SECRET=$work/tokens \
		podman-compose -p "$name" -f docker/compose.yaml "$@"
}
compose_up() {
	compose_port=$(free_port)
	say "podman-compose -f docker/compose.yaml up -d --no-build (the image just built; port 127.0.0.1:$compose_port)"
	compose up -d --no-build >"$work/compose.log" 2>&1 || { cat "$work/compose.log"; fatal "podman-compose up"; }
	url=http://127.0.0.1:$compose_port
	i=0
	until curl -sf --max-time 2 "$url/healthz" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -le 150 ] || { cat "$work/compose.log"; fatal "compose: no answer on $url/healthz within 30 s"; }
		sleep 0.2
	done
	check_eq "compose: no token: 401" 401 "$(status_of GET /processes)"
	r=$(api POST '/processes?wait=5' '{"target": "worker", "args": [9]}')
	check_eq "compose: a worker with the secret's token" "Worker: 9|0" \
		"$(printf "%s\n" "$r" | jq -r '"\(.stdout | rtrimstr("\n"))|\(.exitcode)"')"
	check "compose: the state is on the compose volume" pm volume exists "${name}_spawnd-state"
	say "podman-compose down -v"
	compose down -v >>"$work/compose.log" 2>&1 || { cat "$work/compose.log"; fatal "podman-compose down"; }
}
# A TCP port free on loopback now (podman-compose needs a number, not 0).
free_port() {
	for p in $(shuf -i 20000-60000 -n 20); do
		rc=0; curl -s --max-time 1 "http://127.0.0.1:$p/" >/dev/null 2>&1 || rc=$?
		[ "$rc" -eq 7 ] && { echo "$p"; return; }     # 7: connection refused
	done
	echo 18080
}
