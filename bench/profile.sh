#!/bin/sh
# Profiles spawnd under one benchmark load with perf (system-wide, call graphs),
# so a missed goal can be traced to where its time goes: spawnd's threads, the
# fork server, the workers, the kernel, or the load generator itself.
#
#   bench/profile.sh [SPAWND] [P1|P3|P4] [SECONDS]
#
# Writes bench/build/profile-<FIG>.txt (perf report by command and symbol) and
# bench/build/profile-<FIG>.data. Needs build/loadgen (make -C bench bins).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
spawnd=${1:-$here/../build/spawnd}
fig=${2:-P1}
seconds=${3:-5}
command -v perf >/dev/null || { echo "profile: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$spawnd" ] || { echo "profile: $spawnd is missing" >&2; exit 1; }

state=$(mktemp -d)
out=$(mktemp)
"$spawnd" --listen 127.0.0.1:0 --state-dir "$state" --log-level error >"$out" 2>"$state.err" &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$state" "$state.err" "$out"; }
trap cleanup EXIT INT TERM
i=0
until grep -q 'listening on' "$out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "profile: spawnd did not start" >&2; cat "$state.err" >&2; exit 1; }
	sleep 0.1
done
base=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -n 1)
id=$(curl -s --noproxy '*' -X POST -H 'Content-Type: application/json' -d '{"target":"worker"}' \
	"$base/processes?wait=10" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')

case "$fig" in
P1) load="-m POST -H Content-Type:application/json -d {\"target\":\"worker\"} -c 1 $base/processes?wait=10" ;;
P3) load="-m POST -H Content-Type:application/json -d {\"target\":\"worker\"} -c 16 $base/processes?wait=10" ;;
P4) load="-c 64 $base/processes/$id" ;;
*) echo "profile: unknown figure $fig" >&2; exit 2 ;;
esac

data=$here/build/profile-$fig.data
# shellcheck disable=SC2086 # $load is a word list on purpose
perf record -q -a -g -F 999 -o "$data" -- "$here/build/loadgen" -t "$seconds" $load
# Flat profiles: by command, then the top symbols per command (the call graphs
# stay in the .data file: perf report -i FILE --no-children -G).
{
	perf report -i "$data" --no-children --sort comm -g none --stdio 2>/dev/null | grep '%'
	echo
	perf report -i "$data" --no-children --sort comm,dso,sym -g none --percent-limit 0.3 --stdio 2>/dev/null \
		| grep '%'
} >"$here/build/profile-$fig.txt"
echo "profile: $here/build/profile-$fig.txt"
head -n 12 "$here/build/profile-$fig.txt"
