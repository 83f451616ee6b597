#!/bin/sh
# Installs what spawnd needs to build, test and benchmark, from Debian's packages
# and the npm registry. Idempotent: does nothing when everything is present.
# Says what it installs and why before each step (a long silent step looks like a
# hang), and leaves the package tools' own output and errors visible.
# Usage: scripts/install-deps.sh [build|test|bench]
set -eu
what=${1:-build}

# Each package with the reason it is needed, "package:reason".
need="build-essential:compiler pkg-config:build-flags libmicrohttpd-dev:HTTP-server libcjson-dev:JSON
libsqlite3-dev:state-store libcurl4-openssl-dev:HTTP-client-of-spawnctl-and-the-tests
nettle-dev:SHA-256-and-constant-time-compare-of-bearer-tokens"
case "$what" in
test)  need="$need nodejs:OpenAPI-checks-and-browser-test npm:OpenAPI-checks-and-browser-test
valgrind:memory-checked-test-run chromium:browser-test prometheus:promtool-checks-the-metrics-text
python3:python-targets-and-the-python-client-tests python3-pip:offline-install-test-of-the-python-client
python3-setuptools:build-backend-of-the-python-client" ;;
bench) need="$need nodejs:webhook-baseline npm:webhook-baseline webhook:baseline-server python3:benchmark-driver
redis-server:queue-baseline-of-bench/queues.py" ;;
esac

missing=""; why=""
for item in $need; do
	p=${item%%:*}
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
	# nodejs/npm may come from elsewhere than dpkg (a preinstalled node): accept any working one.
	case "$p" in nodejs|npm) command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && continue ;; esac
	missing="$missing $p"; why="$why
  $p ($(echo "${item#*:}" | tr '-' ' '))"
done

if [ -n "$missing" ]; then
	echo "install-deps: installing from Debian's packages (a few minutes on a fresh machine):$why" >&2
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	echo "install-deps: apt-get update" >&2
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 $missing
	echo "install-deps: Debian packages done" >&2
fi

if [ "$what" != build ] && { [ ! -x node_modules/.bin/redocly ] || [ ! -d node_modules/playwright-core ] ||
                             [ ! -d node_modules/semver ]; }; then
	echo "install-deps: npm ci: @redocly/cli (OpenAPI lint), ajv (response validation)," \
	     "playwright-core (drives Debian's chromium), semver (the node version check);" \
	     "about 150 packages from the npm registry, versions pinned in package-lock.json" >&2
	npm ci --no-audit --no-fund --progress=false
fi
