#!/bin/sh
# Runs each test binary given, shows its lines, and prints the closing summary
# "N passed, N failed". Exits non-zero if any case failed or a binary crashed.
set -u
passed=0; failed=0; crashed=0
[ -n "${SPAWND_RECORD:-}" ] && : >"$SPAWND_RECORD"
out=$(mktemp)
for t in "$@"; do
	echo "== $t"
	"$t" >"$out" 2>"$out.err"; rc=$?
	cat "$out"
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $t: exited with status $rc"; failed=$((failed + 1)); crashed=1
	fi
	if [ "$rc" -ne 0 ] || [ -n "${VERBOSE:-}" ]; then tail -n 60 "$out.err"; fi
done
# Every response the API tests recorded must match the OpenAPI schemas; an
# empty recording fails (the validator says so) rather than skipping the step.
if [ -n "${SPAWND_RECORD:-}" ] && [ -f tests/validate_responses.mjs ]; then
	echo "== openapi: lint and response validation"
	if npx --no-install redocly lint --format=stylish openapi/openapi.yaml >"$out" 2>&1; then
		passed=$((passed + 1)); echo "PASS openapi_lint"
	else
		cat "$out"; failed=$((failed + 1)); echo "FAIL openapi_lint"
	fi
	if node tests/validate_responses.mjs openapi/openapi.yaml "$SPAWND_RECORD" >"$out" 2>&1; then
		passed=$((passed + 1)); tail -n 3 "$out"; echo "PASS openapi_responses"
	else
		tail -n 40 "$out"; failed=$((failed + 1)); echo "FAIL openapi_responses"
	fi
fi
rm -f "$out" "$out.err"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$crashed" -eq 0 ]
