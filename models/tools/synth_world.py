"""A generated world of shapes with captions, for training and evaluating the demo model.

Each image holds 1-3 copies of one shape in one colour (sometimes a second, different object),
at a size and position, on a coloured, lightly textured background; captions describe it in
varied natural phrasing ("two red circles on a blue background", "a small green star in the top
left"). Seeded: the same seed gives the same images and captions.

Chinese captions ("粉色背景上的红色圆形", "三颗黄色的星", "左上角有两个绿色的三角形") come from the
same scene attributes through with_chinese(), which draws its phrasing from its own RNG (derived
from the seed), so the images and English captions of a seed are the same with or without them.

    python synth_world.py OUT_DIR --count 400 --seed 2     # images + eval.json (captions, expected matches)
                                                           # + eval-zh.json (the same, in Chinese)
    python synth_world.py samples/shapes --zh-only --seed 2   # eval-zh.json from an existing eval.json
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
    options = caption_options(s)
    return [options[0]] + rng.sample(options[1:], 4)


def caption_options(s):
    """Every English template for a scene, in template order, each with the attributes it names
    (captions_zh's templates are these, in the same order)."""
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
    return options


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


# --- Chinese -------------------------------------------------------------------------------------

ZH_COLORS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色",
             "white": "白色", "black": "黑色", "gray": "灰色", "pink": "粉色"}  # shape colours and backgrounds
# the first word is the canonical one (the eval queries); sized forms avoid 心形 (小心形 reads as 小心 "careful")
ZH_SHAPES = {"circle": ["圆", "圆形", "圆圈"], "square": ["正方形", "方块"], "triangle": ["三角形"],
             "star": ["星星", "星", "五角星"], "heart": ["心形", "爱心"]}
ZH_SIZED_SHAPES = {"circle": ["圆", "圆形"], "square": ["正方形", "方块"], "triangle": ["三角形"],
                   "star": ["星星", "星", "五角星"], "heart": ["爱心"]}
ZH_MEASURE = {"circle": "个", "square": "个", "triangle": "个", "star": "颗", "heart": "个"}
ZH_NUMBERS = {1: "一", 2: "两", 3: "三"}
ZH_SIZES = {"small": "小", "large": "大"}
ZH_POSITIONS = {"top left": ["左上角"], "top right": ["右上角"], "bottom left": ["左下角"], "bottom right": ["右下角"],
                "center": ["中间", "中央", "正中间"], "left": ["左边", "左侧"], "right": ["右边", "右侧"],
                "top": ["上方", "顶部"], "bottom": ["下方", "底部"]}


def canonical_zh(color, shape):
    """The Chinese colour + shape query: 蓝色的圆, 红色的正方形, 黄色的星星."""
    return f"{ZH_COLORS[color]}的{ZH_SHAPES[shape][0]}"


def captions_zh(s, rng):
    """Chinese renderings of the English caption templates (same order, same attributes named),
    each as (text, names, index of its English template), the first the most complete; word
    choice (圆/圆形, 星星/星, 左边/左侧, with or without 的) varies.
    A phrase without a numeral (粉色背景上的红色圆形) does not name the count."""
    n, shape, color, bg = s["count"], s["shape"], ZH_COLORS[s["color"]], ZH_COLORS[s["background"]]
    pick = rng.choice
    num = f"{ZH_NUMBERS[n]}{ZH_MEASURE[shape]}"
    size = ZH_SIZES[s["size"]]
    where = pick(ZH_POSITIONS[s["position"]])
    noun = pick(ZH_SHAPES[shape])
    sized = pick(ZH_SIZED_SHAPES[shape])
    # the object with its count: 三颗黄色的星 / 两个蓝色三角形
    counted = f"{num}{color}的{noun}" if len(noun) == 1 or rng.random() < 0.6 else f"{num}{color}{noun}"
    # the object, count left out for a single one half the time: 红色的圆形 / 一个红色的圆形
    if n == 1 and rng.random() < 0.5:
        obj, obj_names = (f"{color}{noun}" if len(noun) > 1 and rng.random() < 0.5 else f"{color}的{noun}"), ["color", "shape"]
    else:
        obj, obj_names = counted, ["count", "color", "shape"]
    full = pick([
        f"{bg}背景上，{where}有{num}{color}的{size}{sized}",
        f"{where}有{num}{size}的{color}{sized}，背景是{bg}",
        f"{bg}背景的{where}有{num}{color}的{size}{sized}",
        f"{num}{color}的{size}{sized}在{where}，{bg}背景",
    ])
    options = [
        (full, ["count", "color", "shape", "size", "position", "background"]),
        (pick([f"{bg}背景上的{obj}", f"{obj}，{bg}背景", f"在{bg}背景上的{obj}"]), obj_names + ["background"]),
        (pick([f"{where}的{obj}", f"{where}有{obj}", f"{obj}在{where}"]), obj_names + ["position"]),
        (pick([f"一张{obj}的图片", f"{obj}的图片", f"画着{obj}的图片", f"一幅画，上面有{obj}"]), obj_names),
        (pick([f"{color}的{noun}", f"{color}{noun}" if len(noun) > 1 else f"{color}的{noun}"]), ["color", "shape"]),
        (counted, ["count", "color", "shape"]),
        (pick([f"{bg}背景，上面有{obj}", f"有{obj}的{bg}背景", f"{bg}的背景上有{obj}"]), obj_names + ["background"]),
        (f"{num}{noun}", ["count", "shape"]),
        (pick([f"{color}的东西", f"{color}的图形", f"{color}的形状"]), ["color"]),
    ]
    # the template indices drawn as captions() draws its options (random.sample picks by position)
    picked = [0] + rng.sample(range(1, len(options)), 4)
    return [(*options[k], k) for k in picked]


def zh_rng(seed):
    """The Chinese captions' own RNG: derived from the seed, apart from the English stream."""
    return random.Random(f"synth_world zh {seed}")


def with_chinese(items, seed):
    """Copies of generate()'s items (or eval.json's) with Chinese captions as "captions_zh" and
    "names_zh", and as "twins_zh" each caption's English template (caption_options()) rendered
    for the item, deterministic per seed; the English captions and the images are untouched."""
    rng = zh_rng(seed)
    out = []
    for it in items:
        phrased, english = captions_zh(it, rng), caption_options(it)
        out.append({**it, "captions_zh": [t for t, _, _ in phrased], "names_zh": [k for _, k, _ in phrased],
                    "twins_zh": [english[i][0] for _, _, i in phrased]})
    return out


def eval_manifest_zh(items, seed):
    """eval.json's structure in Chinese. images: the same items, their captions and names in Chinese.
    text_queries: Chinese queries of five kinds, each with "kind" and the images it is relevant to
    (those with every attribute it names): colour (红色的东西), shape (圆形), colour+shape (蓝色的圆),
    count+shape (两个圆, 三颗星星), background (粉色背景上的图形). colour_shape_queries: the
    colour+shape ones alone, one per colour and shape present, in eval.json's order, each with its
    English twin ("en": eval.json's "a blue circle"). image_groups: as eval.json."""
    zh = with_chinese(items, seed)
    images = [{k: v for k, v in it.items() if k not in ("captions", "names", "captions_zh", "names_zh", "twins_zh")}
              | {"captions": it["captions_zh"], "names": it["names_zh"]} for it in zh]

    def query(kind, text, keep):
        return {"text": text, "kind": kind, "relevant": [it["file"] for it in items if keep(it)]}

    en = eval_manifest(items)
    groups = sorted({(it["color"], it["shape"]) for it in items})
    colour_shape = [
        query("colour+shape", canonical_zh(c, sh), lambda it, c=c, sh=sh: (it["color"], it["shape"]) == (c, sh))
        | {"en": f"a {c} {sh}"} for c, sh in groups
    ]
    assert [q["relevant"] for q in colour_shape] == [q["relevant"] for q in en["text_queries"]]
    present = lambda key: sorted({it[key] for it in items}, key=lambda v: list(ZH_COLORS).index(v) if v in ZH_COLORS else v)
    queries = [{k: v for k, v in q.items() if k != "en"} for q in colour_shape]
    queries += [query("colour", f"{ZH_COLORS[c]}的东西", lambda it, c=c: it["color"] == c) for c in present("color")]
    queries += [query("shape", ZH_SHAPES[sh][0] if len(ZH_SHAPES[sh][0]) > 1 else ZH_SHAPES[sh][0] + "形",
                      lambda it, sh=sh: it["shape"] == sh) for sh in SHAPES if any(it["shape"] == sh for it in items)]
    queries += [query("count+shape", f"{ZH_NUMBERS[n]}{ZH_MEASURE[sh]}{ZH_SHAPES[sh][0]}",
                      lambda it, n=n, sh=sh: (it["count"], it["shape"]) == (n, sh))
                for sh in SHAPES for n in NUMBERS if any((it["count"], it["shape"]) == (n, sh) for it in items)]
    queries += [query("background", f"{ZH_COLORS[bg]}背景上的图形", lambda it, bg=bg: it["background"] == bg)
                for bg in present("background")]
    return {"language": "zh", "images": images, "text_queries": queries, "colour_shape_queries": colour_shape,
            "image_groups": en["image_groups"]}


def write_zh(out_dir, items, seed):
    path = Path(out_dir) / "eval-zh.json"
    path.write_text(json.dumps(eval_manifest_zh(items, seed), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--zh-only", action="store_true", help="only write eval-zh.json, from OUT_DIR/eval.json (seed: its seed)")
    a = ap.parse_args()
    if a.zh_only:
        items = json.loads((Path(a.out_dir) / "eval.json").read_text())["images"]
        print(f"wrote {write_zh(a.out_dir, items, a.seed)} ({len(items)} images)")
    else:
        items = generate(a.out_dir, a.count, a.seed)
        (Path(a.out_dir) / "eval.json").write_text(json.dumps(eval_manifest(items), indent=1) + "\n")
        write_zh(a.out_dir, items, a.seed)
        print(f"wrote {len(items)} images, eval.json and eval-zh.json to {a.out_dir}")
