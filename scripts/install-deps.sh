#!/bin/sh
# Installs what spawnd needs to build, test and benchmark, from Debian's packages
# and the npm registry. Idempotent: does nothing when everything is present.
# Usage: scripts/install-deps.sh [build|test|bench]
set -eu
what=${1:-build}
pkgs="build-essential pkg-config libmicrohttpd-dev libcjson-dev libsqlite3-dev libcurl4-openssl-dev"
case "$what" in
test)  pkgs="$pkgs nodejs npm valgrind chromium" ;;
bench) pkgs="$pkgs nodejs npm webhook python3" ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
# nodejs/npm may come from elsewhere than dpkg (a preinstalled node): accept any working one.
case "$missing" in *nodejs*|*npm*)
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
	fi ;;
esac
if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
	echo "install-deps: installing$missing" >&2
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$what" != build ] && { [ ! -x node_modules/.bin/redocly ] || [ ! -d node_modules/playwright-core ]; }; then
	echo "install-deps: npm ci (openapi lint and schema validation)" >&2
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
