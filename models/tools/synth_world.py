"""A generated world of shapes with captions, for training and evaluating the demo model.

Each image holds 1-3 copies of one shape in one colour (sometimes a second, different object),
at a size and position, on a coloured, lightly textured background; captions describe it in
varied natural phrasing ("two red circles on a blue background", "a small green star in the top
left"). Seeded: the same seed gives the same images and captions.

    python synth_world.py OUT_DIR --count 400 --seed 2     # images + eval.json (captions, expected matches)
"""

import argparse
import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SHAPES = ["circle", "square", "triangle", "star", "heart"]
COLORS = {
    "red": (220, 30, 35), "green": (40, 170, 60), "blue": (35, 70, 220), "yellow": (245, 215, 40),
    "purple": (140, 50, 190), "orange": (250, 140, 20), "white": (245, 245, 245), "black": (20, 20, 20),
}
BACKGROUNDS = {
    "white": (235, 235, 232), "black": (25, 25, 28), "gray": (128, 128, 128), "blue": (60, 110, 200),
    "green": (70, 150, 80), "yellow": (235, 210, 90), "pink": (240, 170, 190),
}
POSITIONS = {"top left": (0.25, 0.25), "top right": (0.75, 0.25), "bottom left": (0.25, 0.75),
             "bottom right": (0.75, 0.75), "center": (0.5, 0.5), "left": (0.25, 0.5), "right": (0.75, 0.5),
             "top": (0.5, 0.25), "bottom": (0.5, 0.75)}
NUMBERS = {1: "a", 2: "two", 3: "three"}
SIZES = {"small": 0.12, "large": 0.26}


def plural(shape, n):
    return shape if n == 1 else shape + "s"


def draw_shape(d, shape, cx, cy, r, color):
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx + r, cy + r * 0.9), (cx - r, cy + r * 0.9)], fill=color)
    elif shape == "star":
        pts = []
        for i in range(10):
            a = -math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else r * 0.45
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        d.polygon(pts, fill=color)
    elif shape == "heart":
        d.ellipse([cx - r, cy - r * 0.8, cx, cy + r * 0.1], fill=color)
        d.ellipse([cx, cy - r * 0.8, cx + r, cy + r * 0.1], fill=color)
        d.polygon([(cx - r * 0.97, cy - r * 0.25), (cx + r * 0.97, cy - r * 0.25), (cx, cy + r)], fill=color)


def scene(rng):
    """The attributes of one image."""
    bg = rng.choice(list(BACKGROUNDS))
    color = rng.choice([c for c in COLORS if c != bg])
    return {
        "shape": rng.choice(SHAPES), "color": color, "count": rng.choice([1, 1, 1, 2, 3]),
        "size": rng.choice(list(SIZES)), "position": rng.choice(list(POSITIONS)), "background": bg,
    }


def render(s, rng, w, h):
    img = Image.new("RGB", (w, h), BACKGROUNDS[s["background"]])
    d = ImageDraw.Draw(img)
    # texture: faint stripes or speckles so backgrounds are not flat
    base = BACKGROUNDS[s["background"]]
    for _ in range(rng.randint(20, 60)):
        x, y = rng.randrange(w), rng.randrange(h)
        shade = tuple(max(0, min(255, c + rng.randint(-18, 18))) for c in base)
        d.ellipse([x, y, x + rng.randint(2, 12), y + rng.randint(2, 12)], fill=shade)
    px, py = POSITIONS[s["position"]]
    r = SIZES[s["size"]] * min(w, h) * rng.uniform(0.85, 1.15)
    for i in range(s["count"]):
        ox = (i - (s["count"] - 1) / 2) * r * 2.2 if s["position"] in ("top", "bottom", "center") else 0
        oy = (i - (s["count"] - 1) / 2) * r * 2.2 if ox == 0 else 0
        cx = min(max(px * w + ox + rng.uniform(-0.03, 0.03) * w, r), w - r)
        cy = min(max(py * h + oy + rng.uniform(-0.03, 0.03) * h, r), h - r)
        draw_shape(d, s["shape"], cx, cy, r, COLORS[s["color"]])
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))


def captions(s, rng):
    """Several phrasings of the same scene, each with the attributes it names (training counts
    every image that has those attributes as a match); the first is the most complete."""
    n, shape, color, bg = s["count"], s["shape"], s["color"], s["background"]
    obj = f"{NUMBERS[n]} {color} {plural(shape, n)}"
    sized = f"{NUMBERS[n]} {s['size']} {color} {plural(shape, n)}"
    where = {"center": "in the center", "left": "on the left", "right": "on the right", "top": "at the top",
             "bottom": "at the bottom"}.get(s["position"], f"in the {s['position']}")
    thing = ["count", "color", "shape"]
    options = [
        (f"{sized} {where} on a {bg} background", thing + ["size", "position", "background"]),
        (f"{obj} on a {bg} background", thing + ["background"]),
        (f"{obj} {where}", thing + ["position"]),
        (f"a picture of {obj}", thing),
        (f"{color} {plural(shape, n)}", ["color", "shape"]),
        (f"{obj}", thing),
        (f"a {bg} background with {obj}", thing + ["background"]),
        (f"a {shape}" if n == 1 else f"{NUMBERS[n]} {plural(shape, n)}", ["count", "shape"]),
        (f"something {color}", ["color"]),
    ]
    return [options[0]] + rng.sample(options[1:], 4)


def generate(out, count, seed, sizes=((640, 480), (480, 640), (800, 600), (512, 512))):
    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        s = scene(rng)
        w, h = rng.choice(sizes)
        # neutral names: what an image shows is in eval.json, never in its name
        name = f"shapes-{i:04d}.{'png' if i % 5 == 0 else 'jpg'}"
        img = render(s, rng, w, h)
        img.save(out / name, quality=90) if name.endswith("jpg") else img.save(out / name)
        phrased = captions(s, rng)
        items.append({"file": name, **s, "captions": [t for t, _ in phrased], "names": [k for _, k in phrased]})
    return items


def eval_manifest(items):
    """The expected matches: every "a {colour} {shape}" query present, relevant when an image has
    that colour and shape; image groups of the same colour and shape for image-to-image search."""
    groups = {}
    for it in items:
        groups.setdefault((it["color"], it["shape"]), []).append(it["file"])
    return {
        "images": items,
        "text_queries": [{"text": f"a {color} {shape}", "relevant": files} for (color, shape), files in sorted(groups.items())],
        "image_groups": [files for _, files in sorted(groups.items()) if len(files) > 1],
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2)
    a = ap.parse_args()
    items = generate(a.out_dir, a.count, a.seed)
    (Path(a.out_dir) / "eval.json").write_text(json.dumps(eval_manifest(items), indent=1) + "\n")
    print(f"wrote {len(items)} images and eval.json to {a.out_dir}")
