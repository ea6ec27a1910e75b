#!/usr/bin/env bash
# The browser test's Milvus server (started by Playwright as a web server): starts Milvus 2.3
# (scripts/milvus-server.py, installed by scripts/setup.sh) on 127.0.0.1:$MILVUS_PORT with its
# data in target/e2e/milvus, indexes the samples into its collection e2e_samples with the demo
# model, then serves them on $LEPTOS_SITE_ADDR. Milvus stops with the server: its launcher reads
# a pipe that only the server holds open.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${MILVUS_PORT:-19540}"
DATA="$ROOT/target/e2e/milvus"
PYTHON="${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/milvus/bin/python"
rm -rf "$DATA" "$ROOT/target/e2e/samples-milvus-index"
mkdir -p "$DATA"
# fd 3: the launcher's standard input, inherited by the server below (exec), closed when it ends.
exec 3> >("$PYTHON" scripts/milvus-server.py --data "$DATA" --port "$PORT" > "$DATA/launcher.log" 2>&1)
for _ in $(seq 1 240); do
  grep -q '^ready' "$DATA/launcher.log" 2>/dev/null && break
  sleep 0.5
done
grep -q '^ready' "$DATA/launcher.log" || { echo "e2e: Milvus did not start; see $DATA/logs" >&2; exit 1; }
cargo run -q --release --no-default-features --features ssr -- index --quiet \
  --data samples --index target/e2e/samples-milvus-index --model models/clipfind-demo \
  --store "milvus://127.0.0.1:$PORT/e2e_samples"
exec cargo run -q --release --no-default-features --features ssr -- serve \
  --data samples --index target/e2e/samples-milvus-index --model models/clipfind-demo
