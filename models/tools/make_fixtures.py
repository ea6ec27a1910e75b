"""Make the tiny test model and the reference fixtures the Rust tests compare against.

Writes models/test-tiny/ (seeded random CLIP, ~4 MB) and tests/fixtures/: images in many formats
and shapes, broken files, and reference.json with open_clip's token ids and the PyTorch
embeddings (open_clip preprocessing, EXIF orientation applied first) of every text and image.

    python make_fixtures.py            # from the repository root or anywhere
"""

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image, ImageDraw, ImageOps

import export_onnx

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "test-tiny"
FIXTURES = ROOT / "tests" / "fixtures"
IMAGES = FIXTURES / "images"
BROKEN = FIXTURES / "broken"

LONG_TEXT = " ".join(["a very long caption about a red bicycle leaning on a wall"] * 12)
TEXTS = [
    "a dog sitting on a bench",
    "",
    "A PHOTO of a Cat",
    "\u201ccurly quotes\u201d and \u2018apostrophes\u2019 aren\u2019t straight",
    "rock &amp; roll &amp;amp; more",
    "\ufb01sh and \ufb02owers in the \ufb00ield",
    "\uff26\uff35\uff2c\uff2c\u3000\uff37\uff29\uff24\uff34\uff28 text",
    "nai\u0308ve cafe\u0301",
    "\u6771\u4eac\u30bf\u30ef\u30fc\u306e\u591c\u666f",
    "\U0001f436 dog emoji \U0001f389\U0001f389",
    LONG_TEXT,
    "  lots   of\twhitespace\n\n here ",
    "numbers 12345 and 3.14, it's we're they'll I'd",
]


def scene(w, h, seed):
    """A smooth synthetic photo: gradient sky, a few shapes, mild noise (compresses well)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        80 + 120 * x / w, 60 + 150 * y / h, 200 - 120 * (x + y) / (w + h)
    ], axis=-1)
    base += rng.normal(0, 4, size=(h, w, 3))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(4):
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(min(w, h) // 10 + 1, min(w, h) // 3 + 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        else:
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    return img


def write_images():
    IMAGES.mkdir(parents=True, exist_ok=True)
    made = {}

    def save(name, img, **kw):
        img.save(IMAGES / name, **kw)
        made[name] = IMAGES / name

    save("photo.jpg", scene(640, 480, 1), quality=90)
    save("portrait.jpg", scene(480, 640, 2), quality=90)
    save("wide.png", scene(1200, 300, 3))
    save("tiny.png", scene(12, 9, 4))
    save("huge.jpg", scene(4000, 3000, 5), quality=85)
    rgba = scene(500, 400, 6).convert("RGBA")
    alpha = Image.linear_gradient("L").resize((500, 400))
    rgba.putalpha(alpha)
    save("rgba.png", rgba)
    save("gray.png", scene(400, 300, 7).convert("L"))
    save("cmyk.jpg", scene(400, 300, 8).convert("CMYK"), quality=92)
    save("lossless.webp", scene(500, 375, 9), lossless=True)
    save("lossy.webp", scene(500, 375, 10), quality=90)
    save("palette.gif", scene(320, 240, 11).convert("P", palette=Image.ADAPTIVE))
    save("bitmap.bmp", scene(300, 200, 12))
    save("scan.tiff", scene(300, 400, 13))
    # Stored sideways with EXIF orientation 6: viewers (and clipfind) rotate it upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif-rotated.jpg", scene(640, 480, 14).transpose(Image.Transpose.ROTATE_90), quality=90, exif=exif)
    return made


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_broken():
    BROKEN.mkdir(parents=True, exist_ok=True)
    (BROKEN / "zero-bytes.jpg").write_bytes(b"")
    whole = (IMAGES / "photo.jpg").read_bytes()
    (BROKEN / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (BROKEN / "garbage.png").write_bytes(np.random.default_rng(0).bytes(4096))
    (BROKEN / "not-an-image.jpg").write_bytes(b"This is a text file with a .jpg name.\n")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(BROKEN / "one-pixel.png")
    # A valid PNG header claiming 20000x20000 RGB (1.2 GB decoded) with almost no data.
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b"")
    (BROKEN / "header-bomb.png").write_bytes(bomb)


def unit(v):
    v = v / v.norm(dim=-1, keepdim=True)
    return [round(float(x), 7) for x in v]


def main():
    model = export_onnx.random_model(export_onnx.tiny_config(), seed=0)
    spec = export_onnx.export(
        model, MODEL_DIR, "test-tiny", "random weights, seed 0 (models/tools/make_fixtures.py)", "MIT",
        "Tiny random-weight CLIP for tests: real vocabulary, 224/32 input, 512-d output. Knows nothing.",
    )
    text_encoder, vision_encoder = export_onnx.TextEncoder(model), export_onnx.VisionEncoder(model)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    preprocess = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)

    images = write_images()
    write_broken()
    reference = {"model": spec["name"], "model_sha256": spec["sha256"], "texts": [], "images": []}
    with torch.no_grad():
        for text in TEXTS:
            ids = tokenizer([text])  # [1, 77], zero padded, as open_clip feeds the model
            emb = text_encoder(ids)[0]
            reference["texts"].append({"text": text, "ids": [int(i) for i in ids[0] if i != 0], "embedding": unit(emb)})
        for name, path in sorted(images.items()):
            img = ImageOps.exif_transpose(Image.open(path))
            pixels = preprocess(img).unsqueeze(0)
            emb = vision_encoder(pixels)[0]
            w, h = img.size
            reference["images"].append({"file": name, "width": w, "height": h, "embedding": unit(emb)})
    (FIXTURES / "reference.json").write_text(json.dumps(reference) + "\n")
    print(f"wrote {len(TEXTS)} texts and {len(images)} images to {FIXTURES / 'reference.json'}")


if __name__ == "__main__":
    main()
