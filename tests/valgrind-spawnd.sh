#!/bin/sh
# Runs build/spawnd under valgrind for the API tests (SPAWND_BIN=tests/valgrind-spawnd.sh):
# memory errors anywhere (libmicrohttpd and glibc included, which ASan does not
# instrument) and definite leaks make spawnd exit 99, which fails server_stop().
# The fork server is started by exec and is not traced: workers run at full speed.
dir=$(dirname "$0")/..
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --track-fds=no "${SPAWND_VALGRIND_BIN:-$dir/build/spawnd}" "$@"
