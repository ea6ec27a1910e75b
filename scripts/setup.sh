#!/usr/bin/env bash
# Installs everything clipfind needs to build, run and test, skipping what is already present.
# Safe to run again and again: a fully set-up machine finishes in a few seconds.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen` pin in Cargo.toml
SASS_VERSION=1.108.2
BINARYEN_VERSION=132.0.0       # npm binaryen; Debian's wasm-opt 108 breaks hydration
ORT_VERSION=1.31.1             # must match ort's api-31 feature and runtime::PINNED_VERSION
# The Milvus server the Milvus store's tests start (scripts/milvus-server.py): PyPI `milvus`
# bundles the real Milvus 2.3 standalone binary, which milvus-sdk-rust 2.6.2 speaks to.
MILVUS_VERSION=2.3.5
# The DNG writer of the RAW tests and bench (scripts/make-dng.py): PyPI pidng with numpy and Pillow.
DNG_TOOLS=(pidng==4.0.9 numpy==2.4.6 pillow==13.0.0)
APT_PACKAGES=(cmake g++ make pkg-config libopenblas-openmp-dev nasm chromium unzip python3-pip)
# Videos are sampled by Debian's ffmpeg binary (5.1); its recommends (VA/Vulkan drivers, sound
# servers) are not needed to decode files.
# Photo formats: libheif (built from the libheif-sys crate's sources) decodes HEIC with libde265
# and AVIF with dav1d or libaom; the encoders make the formats' test files (heif-enc, avifenc,
# cjxl). RAW files without a big enough embedded preview are developed by LibRaw's dcraw_emu.
# Words in images are read by Tesseract 5 (its C API, bound by tesseract-sys through bindgen and
# libclang) with its pretrained English and Simplified Chinese models; the OCR test set is drawn
# with WenQuanYi Zen Hei, a Chinese font.
APT_LEAN_PACKAGES=(ffmpeg libde265-dev libdav1d-dev libaom-dev libheif-examples libavif-bin libjxl-tools libraw-bin
  libtesseract-dev libleptonica-dev libclang-dev tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim fonts-wqy-zenhei)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/onnxruntime"
MILVUS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/milvus"
DNG_TOOLS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/clipfind/dng-tools"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages: C++ toolchain and BLAS for FAISS, Chromium for browser tests ---
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
lean_missing=()
for pkg in "${APT_LEAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || lean_missing+=("$pkg")
done
if [ $((${#missing[@]} + ${#lean_missing[@]})) -gt 0 ]; then
  say "installing Debian packages: ${missing[*]} ${lean_missing[*]}"
  sudo_if_needed apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  if [ ${#lean_missing[@]} -gt 0 ]; then
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean_missing[@]}"
  fi
fi

# --- Rust: the browser target and the Leptos build tools ---
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 25 minutes on 2 cores)"
  cargo install --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION"
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  # Without --locked: the CLI's lockfile names a crate version the registry lacks.
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 7 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# --- npm tools cargo-leptos would otherwise try to download from GitHub ---
npm_global() { # package version command pattern-its---version-prints
  if ! "$3" --version 2>/dev/null | grep -q "$4"; then
    say "installing npm $1@$2"
    npm install -g --no-fund --no-audit "$1@$2" >/dev/null
  fi
}
npm_global sass "$SASS_VERSION" sass "^$SASS_VERSION"
npm_global binaryen "$BINARYEN_VERSION" wasm-opt "version ${BINARYEN_VERSION%%.*}"

# --- Playwright for the browser tests (uses Debian's Chromium; never downloads a browser) ---
lock="$ROOT/end2end/package-lock.json"
stamp="$ROOT/end2end/node_modules/.clipfind-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
  say "installing end2end npm packages"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-fund --no-audit >/dev/null)
  cp "$lock" "$stamp"
fi

# --- ONNX Runtime shared library, from the PyPI wheel (ort loads it at run time) ---
if [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  say "installing ONNX Runtime $ORT_VERSION into $ORT_DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "onnxruntime==$ORT_VERSION" -d "$tmp"
  mkdir -p "$ORT_DIR"
  unzip -q -j -o "$tmp"/onnxruntime-"$ORT_VERSION"-*.whl 'onnxruntime/capi/libonnxruntime*' -d "$tmp/lib"
  # Move into place last, so an interrupted download never leaves a half-written library.
  for f in "$tmp"/lib/*; do mv -f "$f" "$ORT_DIR/"; done
fi

# --- Milvus, for the Milvus store's tests (a virtual environment of its own) ---
if ! "$MILVUS_DIR/bin/python" -c "import milvus, sys; sys.exit(milvus.__version__ != '$MILVUS_VERSION')" 2>/dev/null; then
  say "installing Milvus $MILVUS_VERSION (PyPI milvus: the standalone server) into $MILVUS_DIR"
  rm -rf "$MILVUS_DIR"
  python3 -m venv "$MILVUS_DIR"
  "$MILVUS_DIR/bin/pip" install --quiet --disable-pip-version-check "milvus==$MILVUS_VERSION"
fi

# --- pidng, for the DNG files the RAW tests write (a virtual environment of its own) ---
stamp="$DNG_TOOLS_DIR/.clipfind-packages"
if [ "$(cat "$stamp" 2>/dev/null)" != "${DNG_TOOLS[*]}" ]; then
  say "installing ${DNG_TOOLS[*]} into $DNG_TOOLS_DIR"
  rm -rf "$DNG_TOOLS_DIR"
  python3 -m venv "$DNG_TOOLS_DIR"
  "$DNG_TOOLS_DIR/bin/pip" install --quiet --disable-pip-version-check "${DNG_TOOLS[@]}"
  echo "${DNG_TOOLS[*]}" >"$stamp"
fi

say "ready (cargo-leptos $CARGO_LEPTOS_VERSION, wasm-bindgen $WASM_BINDGEN_VERSION, ONNX Runtime $ORT_VERSION, Milvus $MILVUS_VERSION)"
