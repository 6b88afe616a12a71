#!/usr/bin/env bash
# Loads the NDJSON of every shipped capture into DuckDB with the SQL of docs/ingest.md and checks
# the tables, the fleet queries and every community_id (.ci/ingest_duckdb.py). Installs the
# duckdb and communityid Python packages if missing; builds target/release/wsdiag if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
echo "== .ci/ingest-test.sh (NDJSON into DuckDB with docs/ingest.md, Community IDs)"
if ! "$PYTHON" -c 'import duckdb, communityid' 2>/dev/null; then
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-pip
  fi
  pip=("$PYTHON" -m pip install --quiet --disable-pip-version-check duckdb communityid)
  # Debian's own Python is "externally managed": pip refuses without --break-system-packages.
  PIP_ROOT_USER_ACTION=ignore "${pip[@]}" 2>/dev/null ||
    PIP_ROOT_USER_ACTION=ignore "${pip[@]}" --break-system-packages
fi
if [ ! -x target/release/wsdiag ]; then
  cargo build --release
fi
"$PYTHON" .ci/ingest_duckdb.py
