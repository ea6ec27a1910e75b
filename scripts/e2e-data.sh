#!/usr/bin/env bash
# Builds what the browser tests search: a folder of test images (target/e2e/photos) indexed with
# the committed test-tiny model, and the bundled samples indexed with each demo model.
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
# Two photos with EXIF capture times (2023-06-15 and 2021-12-24) for the date filters.
mkdir -p "$DATA/dated"
cp "$ROOT/tests/fixtures/format2-library/photos"/{beach.jpg,city.jpg} "$DATA/dated/"
cd "$ROOT"
cargo run -q --release --no-default-features --features ssr -- index --data "$DATA" --model "$ROOT/models/test-tiny" --quiet
echo "e2e: indexed $(find "$DATA" -type f -not -path '*/.clipfind/*' | wc -l) images in $DATA"
# The default demo data (what `make run` serves), indexed apart from samples/.clipfind so the
# test never depends on, or changes, a developer's own sample index.
cargo run -q --release --no-default-features --features ssr -- index --data "$ROOT/samples" \
  --index "$ROOT/target/e2e/samples-index" --model "$ROOT/models/clipfind-demo" --quiet
cargo run -q --release --no-default-features --features ssr -- index --data "$ROOT/samples" \
  --index "$ROOT/target/e2e/samples-bilingual-index" --model "$ROOT/models/clipfind-demo-bilingual" --quiet
echo "e2e: indexed the samples folder with the demo model and with the bilingual demo model"
# The video test: a 30 s WebM (a red square, a blue circle, a yellow star, 10 s each: images of
# the demo world, chosen by their labels) beside one photo, indexed with the bilingual demo model.
VIDEOS="$ROOT/target/e2e/videos"
mkdir -p "$VIDEOS"
mapfile -t SCENES < <(python3 - "$ROOT/samples/shapes/eval.json" <<'PY'
import json, sys
images = json.load(open(sys.argv[1]))["images"]
for color, shape in (("red", "square"), ("blue", "circle"), ("yellow", "star"), ("green", "triangle")):
    print(next(i["file"] for i in images if (i["color"], i["shape"], i["count"], i["size"]) == (color, shape, 1, "large")))
PY
)
cp "$ROOT/samples/shapes/${SCENES[3]}" "$VIDEOS/photo.${SCENES[3]##*.}"
ffmpeg -v error -y \
  -loop 1 -framerate 5 -t 10 -i "$ROOT/samples/shapes/${SCENES[0]}" \
  -loop 1 -framerate 5 -t 10 -i "$ROOT/samples/shapes/${SCENES[1]}" \
  -loop 1 -framerate 5 -t 10 -i "$ROOT/samples/shapes/${SCENES[2]}" \
  -filter_complex "[0]scale=320:240,setsar=1[a];[1]scale=320:240,setsar=1[b];[2]scale=320:240,setsar=1[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v]" \
  -map "[v]" -r 5 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 "$VIDEOS/shapes.webm"
cargo run -q --release --no-default-features --features ssr -- index --data "$VIDEOS" \
  --index "$ROOT/target/e2e/videos-index" --model "$ROOT/models/clipfind-demo-bilingual" --quiet
echo "e2e: made and indexed the video folder"
# The formats test: photos browsers cannot show (HEIC, camera RAW, JPEG XL), a Live Photo (a HEIC
# still of a red square, a 3 s clip of a blue circle beside it) and a Google motion photo (a black
# heart whose clip inside the JPEG shows a green triangle, VP9 so Chromium plays it), made by the
# real encoders, indexed with the bilingual demo model.
FORMATS="$ROOT/target/e2e/formats"
WORK="$ROOT/target/e2e/formats-work"
mkdir -p "$FORMATS" "$WORK"
mapfile -t SHAPES < <(python3 - "$ROOT/samples/shapes/eval.json" <<'PY'
import json, sys
images = json.load(open(sys.argv[1]))["images"]
for color, shape in (("purple", "heart"), ("orange", "star"), ("orange", "circle"), ("red", "square"), ("blue", "circle"), ("black", "heart"), ("green", "triangle")):
    print(next(i["file"] for i in images if (i["color"], i["shape"], i["count"], i["size"]) == (color, shape, 1, "large")))
PY
)
shape() { echo "$ROOT/samples/shapes/${SHAPES[$1]}"; }
heif-enc -q 90 -o "$FORMATS/heart.heic" "$(shape 0)" >/dev/null
"${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/dng-tools/bin/python" "$ROOT/scripts/make-dng.py" "$(shape 1)" "$FORMATS/star.dng"
cjxl "$(shape 2)" "$FORMATS/circle.jxl" -q 90 2>/dev/null
heif-enc -q 90 -o "$FORMATS/IMG_0001.heic" "$(shape 3)" >/dev/null
ffmpeg -v error -y -loop 1 -framerate 5 -t 3 -i "$(shape 4)" -vf scale=320:240,setsar=1,format=yuv420p \
  -c:v libx264 -preset veryfast "$FORMATS/IMG_0001.mov"
ffmpeg -v error -y -i "$(shape 5)" -q:v 2 "$WORK/still.jpg"
ffmpeg -v error -y -loop 1 -framerate 5 -t 3 -i "$(shape 6)" -vf scale=320:240,setsar=1,format=yuv420p \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 "$WORK/clip.mp4"
python3 "$ROOT/scripts/make-motion-photo.py" "$WORK/still.jpg" "$WORK/clip.mp4" "$FORMATS/PXL_0002.MP.jpg" --marking google
cargo run -q --release --no-default-features --features ssr -- index --data "$FORMATS" \
  --index "$ROOT/target/e2e/formats-index" --model "$ROOT/models/clipfind-demo-bilingual" --quiet
echo "e2e: made and indexed the formats folder"
# The words test: a screenshot, a receipt and a Chinese sign from the labelled OCR set
# (scripts/make-ocr-set.py) among a photo without words, indexed with the test model and
# Tesseract.
WORDS="$ROOT/target/e2e/words"
mkdir -p "$WORDS" "$ROOT/target/e2e/ocr-set"
"${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/dng-tools/bin/python" "$ROOT/scripts/make-ocr-set.py" "$ROOT/target/e2e/ocr-set" >/dev/null
cp "$ROOT/target/e2e/ocr-set"/{ocr-001.png,ocr-007.png,ocr-014.jpg} "$WORDS/"
cp "$IMAGES/photo.jpg" "$WORDS/"
cargo run -q --release --no-default-features --features ssr -- index --data "$WORDS" \
  --index "$ROOT/target/e2e/words-index" --model "$ROOT/models/test-tiny" --quiet
echo "e2e: made and indexed the words folder"
# The typing-latency test: 100,000 synthetic photos (one JPEG hard-linked, clustered vectors
# under test-tiny's identity; benches/common/synthetic_library.rs).
cargo run -q --release --no-default-features --features ssr --example synthetic_library -- \
  "$ROOT/target/e2e/typing" 100000 "$ROOT/models/test-tiny"
# The live-library test: a watched folder that starts with the test photos, and 300 distinct
# generated photos (640x480 PNGs) for the test to copy in while the page is open.
LIVE="$ROOT/target/e2e/live"
mkdir -p "$LIVE/start" "$ROOT/target/e2e/incoming"
cp -r "$DATA"/{photo.jpg,portrait.jpg,gray.png,rgba.png,trips} "$LIVE/start/"
python3 - "$ROOT/target/e2e/incoming" <<'PY'
import struct, sys, zlib
def png(path, w, h, seed):
    a, b = seed % 7 + 1, seed % 5 + 1
    first = bytes((x * a + seed * 37 + c * 85) % 256 for x in range(w) for c in range(3))
    rows = b"".join(b"\0" + first.translate(bytes((v + y * b) % 256 for v in range(256))) for y in range(h))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))
for i in range(300):
    png(f"{sys.argv[1]}/generated-{i:03}.png", 640, 480, i)
PY
echo "e2e: made the live-library folders"
