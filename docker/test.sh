#!/bin/sh
# make docker-test: builds docker/Dockerfile and runs the image for real, driving it from
# outside the container over HTTP with a bearer token, as a user of `docker run` would:
#   1. the seed scenarios (start targets: builtin, exec, Python, plugin; read their output and
#      exit codes), a followed output stream, and the health check the image declares;
#   2. a graceful stop (SIGTERM while a worker runs: exit 0 within the stop timeout);
#   3. a new container on the same volume: every record and its output are found again;
#   4. no zombie after a worker that double-forks, nor after an orphan reparented to PID 1.
# Prints what it does at each step, PASS/FAIL lines and "N passed, N failed"; exits non-zero
# on any failure. Reports the image size.
#
# Works on a machine without a Docker engine: Debian's podman builds and runs the same
# Dockerfile (installed by scripts/install-deps.sh docker when missing). What this needs here:
# runc (crun fails on some hosts' cgroup setups), a containers.conf without default ulimits
# (podman's are refused on some hosts), --network=host for the build's apt-get, and, as no
# image can be pulled, a local debian:bookworm-slim made with debootstrap (cached under
# /var/tmp, as scripts/fresh-debian12.sh does). The Dockerfile itself stays the standard one.
# Needs root (podman, debootstrap). Environment: DEBIAN_MIRROR, DOCKER_TEST_CACHE (the base
# image tarball's folder), FRESH_CACHE (scripts/fresh-debian12.sh's, reused when present), DOCKER_TEST_RUNTIME (default runc), DOCKER_TEST_KEEP=1 keeps the
# containers and volume.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${DOCKER_TEST_CACHE:-/var/tmp/spawnd-docker}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
runtime=${DOCKER_TEST_RUNTIME:-runc}
base=docker.io/library/debian:bookworm-slim
image=localhost/spawnd:test
started=$(date +%s)
say() { echo "docker-test: [$(( $(date +%s) - started ))s] $*" >&2; }

cd "$repo"
for tool in podman runc curl jq debootstrap podman-compose; do
	command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing: scripts/install-deps.sh docker"; scripts/install-deps.sh docker; break; }
done

work=$(mktemp -d /var/tmp/spawnd-docker-test.XXXXXX)
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "%s"\n' "$runtime" >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"     # podman-compose's podman reads it too
pm() { podman "$@"; }
name=spawnd-test-$$
volume=$name-state
cleanup() {
	status=$?
	if [ -z "${DOCKER_TEST_KEEP:-}" ]; then
		pm rm -f -t 0 "$name-1" "$name-2" >/dev/null 2>&1 || true
		pm volume rm -f "$volume" >/dev/null 2>&1 || true
		compose down -v >/dev/null 2>&1 || true
		pm network rm -f "${name}_default" >/dev/null 2>&1 || true
		rm -rf "$work"
	else
		say "kept: containers $name-1 $name-2, volume $volume, folder $work"
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$repo/docker/test_lib.sh"

# ---- the base image, made locally when missing (no registry to pull from) ----------------
if ! pm image exists "$base"; then
	if [ ! -s "$cache/bookworm-slim.tar" ]; then
		mkdir -p "$cache"
		root=$work/root
		fresh=${FRESH_CACHE:-/var/tmp/spawnd-fresh}/bookworm-minbase.tar
		if [ -s "$fresh" ]; then
			say "base image: unpacking scripts/fresh-debian12.sh's cached Debian root ($fresh)"
			mkdir -p "$root" && tar -C "$root" -xf "$fresh"
		else
			say "base image: debootstrap --variant=minbase bookworm from $mirror (1-2 minutes, once; kept in $cache)"
			debootstrap --variant=minbase bookworm "$root" "$mirror"
		fi
		# What a slim image leaves out: downloaded packages and package lists.
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
		tar -C "$root" -cf "$cache/bookworm-slim.tar.part" . && mv "$cache/bookworm-slim.tar.part" "$cache/bookworm-slim.tar"
		rm -rf "$root"
	fi
	say "base image: podman import $cache/bookworm-slim.tar as $base"
	pm import -q "$cache/bookworm-slim.tar" "$base" >/dev/null
fi

# ---- the image ----------------------------------------------------------------------------
version=$(sed -n 's/^#define SPAWND_VERSION "\(.*\)"/\1/p' handlers/health.h)
say "podman build -f docker/Dockerfile -t $image (cached layers are reused; a cold build takes a few minutes)"
# Its steps are shown as they start (the whole output is in build.log, printed on failure).
{ pm build --network=host --format docker --build-arg VERSION="$version" \
	--build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" -f docker/Dockerfile -t "$image" . 2>&1
  echo "podman build: exit $?"; } | tee "$work/build.log" | grep --line-buffered -E '^\[[0-9]/[0-9]\] STEP|^install-deps:' >&2 || true
tail -n 1 "$work/build.log" | grep -qx 'podman build: exit 0' || { tail -n 40 "$work/build.log"; echo "FAIL podman build"; exit 1; }
size=$(pm image inspect --format '{{.Size}}' "$image")
say "image $image: $((size / 1000000)) MB ($size bytes; the base alone: $(( $(pm image inspect --format '{{.Size}}' "$base") / 1000000 )) MB)"
check "the image runs as a non-root user" test "$(pm image inspect --format '{{.Config.User}}' "$image")" = 10001:10001
check "the image declares its health check and stop signal" \
	test "$(pm image inspect --format '{{.Config.Healthcheck.Test}} {{.Config.StopSignal}}' "$image")" = "[CMD spawnd healthcheck] SIGTERM"

# ---- a token, mounted as a secret file (never in the image) --------------------------------
say "without a tokens file the image refuses to start (its address is not loopback), naming the file"
rc=0; pm run --rm "$image" >"$work/notoken.log" 2>&1 || rc=$?
check "no secret: exit 2, naming /run/secrets/spawnd_tokens (got $rc: $(tail -n 1 "$work/notoken.log"))" \
	sh -c "[ $rc -eq 2 ] && grep -q /run/secrets/spawnd_tokens '$work/notoken.log'"
umask 077
TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
printf 'admin %s\n' "$TOKEN" >"$work/tokens"
chown 10001:10001 "$work/tokens"
umask 022
cat >"$work/targets.json" <<'EOF'
{"version": 1, "targets": [
  {"name": "doublefork", "description": "daemonizes a sleep 1 (a double fork) and prints its pid",
   "program": "/bin/sh", "argv": ["-c", "(sleep 1 & echo $!); exit 0"], "timeout": 10}
]}
EOF

run_container 1
seed_scenarios
follow_stream
stop_gracefully 1
run_container 2 -v "$work/targets.json:/etc/spawnd/targets.json:ro" -e SPAWND_TARGETS=/etc/spawnd/targets.json
records_survive
no_zombies
stop_gracefully 2
compose_up

say "image size: $((size / 1000000)) MB; took $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
