#!/usr/bin/env bash
# The contract test: schemathesis (from PyPI, pinned, in a virtualenv under target/)
# against a running server with data in it, every check on (`--checks all`). What we
# judge to be the tool's own noise is excluded by name in schemathesis.toml, each with its
# reason, and listed in docs/api-notes.md ("The contract test").
#
#   tests/contract/run.sh [server binary]    (default: target/debug/hoist-under-test)
#
# Needs python3 with venv and network access to PyPI (once: the virtualenv is kept).
# CONTRACT_SECONDS (default 150) bounds the run; CONTRACT_SEED fixes generation.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-target/debug/hoist-under-test}
VENV=target/contract-venv
SCHEMATHESIS_VERSION=4.32.5
TOKEN=contract-admin-token-0123456789

if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

DATA=$(mktemp -d)
LOG=$DATA/server.log
HOIST_ADMIN_TOKEN=$TOKEN HOIST_LOG=warn "$BIN" --listen 127.0.0.1:0 --data "$DATA/d" > "$DATA/ready" 2> "$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
    grep -q 'hoist listening on' "$DATA/ready" 2>/dev/null && break
    sleep 0.1
done
URL=$(sed -n 's/^hoist listening on //p' "$DATA/ready")
[ -n "$URL" ] || { echo "the server did not start"; cat "$LOG"; exit 1; }

"$VENV/bin/python" tests/contract/seed.py "$URL" "$TOKEN"

cd tests/contract   # schemathesis.toml is read from here
# One worker: with two, schemathesis's threads call `ast.parse` at once (Hypothesis
# describing its filters), which CPython 3.11 can fail with "SystemError: AST constructor
# recursion depth mismatch" (a bug in its AST recursion tracking, seen failing a CI run:
# a crash of the tool, not a finding).
# One worker generates about 6,600 cases in the 150 s instead of about 8,900.
status=0
"../../$VENV/bin/schemathesis" run "$URL/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --workers 1 \
    --max-time "${CONTRACT_SECONDS:-150}" \
    --seed "${CONTRACT_SEED:-20261129}" \
    --no-color || status=$?
if ! kill -0 $PID 2>/dev/null; then
    echo "the server died during the run:"; tail -50 "$LOG"; exit 1
fi
if grep -q 'panicked' "$LOG"; then
    echo "the server panicked during the run:"; grep -A5 panicked "$LOG"; exit 1
fi
exit $status
