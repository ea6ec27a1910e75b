#!/usr/bin/env bash
# Builds what the browser tests search: a folder of test images (target/e2e/photos) indexed with
# the committed test-tiny model, and the bundled samples indexed with the demo model.
# Rebuilt from scratch each time: tests never see stale results.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/target/e2e/photos"
IMAGES="$ROOT/tests/fixtures/images"
rm -rf "$ROOT/target/e2e"
mkdir -p "$DATA/backup" "$DATA/print" "$DATA/trips/2024"
cp "$IMAGES"/{photo.jpg,portrait.jpg,gray.png,rgba.png,palette.gif,bitmap.bmp,exif-rotated.jpg} "$DATA/"
cp "$IMAGES/wide.png" "$DATA/trips/2024/wide.png"
cp "$IMAGES/lossy.webp" "$DATA/trips/2024/été.webp"
cp "$IMAGES/photo.jpg" "$DATA/backup/photo copy.jpg"
cp "$IMAGES/cmyk.jpg" "$DATA/print/cmyk.jpg"
cd "$ROOT"
cargo run -q --release --no-default-features --features ssr -- index --data "$DATA" --model "$ROOT/models/test-tiny" --quiet
echo "e2e: indexed $(find "$DATA" -type f -not -path '*/.clipfind/*' | wc -l) images in $DATA"
# The default demo data (what `make run` serves), indexed apart from samples/.clipfind so the
# test never depends on, or changes, a developer's own sample index.
cargo run -q --release --no-default-features --features ssr -- index --data "$ROOT/samples" \
  --index "$ROOT/target/e2e/samples-index" --model "$ROOT/models/clipfind-demo" --quiet
echo "e2e: indexed the samples folder with the demo model"
