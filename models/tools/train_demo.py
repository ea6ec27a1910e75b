"""Train the small demo CLIP on the generated shapes world and export it as models/clipfind-demo.

transformers' CLIPModel architecture, the real CLIP tokenizer (open_clip's ids), 224 px input with
open_clip's preprocessing, exported by export_onnx.py, so the Rust engine runs it unchanged.
Seeded, CPU only; the default 2600 steps fit in 30 minutes on 2 cores.

    python train_demo.py OUT_DIR [--train 10000] [--steps 2600] [--seed 0]
"""

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

import eval_demo
import export_onnx
import synth_world


# text width, layers, heads; vision width, layers, heads (patch 32, 224 px, 512-d embeddings)
WIDTHS = (32, 4, 4, 128, 4, 4)
PEAK_LR = 2e-3


def pixels(images):
    """Image files through open_clip's Resize + CenterCrop as uint8 (normalised per batch, which saves memory)."""
    resize_crop = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)
    steps = [t for t in resize_crop.transforms if type(t).__name__ in ("Resize", "CenterCrop")]
    out = np.empty((len(images), 224, 224, 3), dtype=np.uint8)
    for i, path in enumerate(images):
        img = Image.open(path)
        for t in steps:
            img = t(img)
        out[i] = np.asarray(img.convert("RGB"))
    return out


def normalise(batch):
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(export_onnx.OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(export_onnx.OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def dataset(folder, count, seed):
    items = synth_world.generate(folder, count, seed)
    images = [Path(folder) / it["file"] for it in items]
    return items, pixels(images)


def matches(items, idx, chosen):
    """matches[i, j]: image idx[i] has every attribute that caption chosen[j] of image idx[j] names,
    so "red squares" counts every red square in the batch as a match, not as a negative."""
    names = [items[b]["names"][c] for b, c in zip(idx, chosen)]
    out = torch.ones(len(idx), len(idx), dtype=torch.bool)
    for key in {k for named in names for k in named}:
        code = {}
        values = torch.tensor([code.setdefault(items[a][key], len(code)) for a in idx])
        named = torch.tensor([key in n for n in names])
        out &= (values[:, None] == values[None, :]) | ~named[None, :]
    return out.float()


def soft_cross_entropy(logits, target):
    return torch.sum(-(target / target.sum(1, keepdim=True)) * F.log_softmax(logits, 1), 1).mean()


def train(out_dir, n_train, steps, seed, work, eval_set):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    torch.set_num_threads(2)
    started = time.time()
    items, images = dataset(Path(work) / "train", n_train, seed + 100)
    print(f"{n_train} images ready in {time.time() - started:.0f}s", flush=True)
    model = export_onnx.eager_attention(
        export_onnx.CLIPModel(export_onnx.clip_config(*WIDTHS))
    ).train()
    opt = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.05)
    batch, warmup, step = 128, steps // 25, 0
    while step < steps:
        order = torch.randperm(len(items))
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start:start + batch].tolist()
            chosen = [rng.randrange(len(items[i]["captions"])) for i in idx]
            texts = [items[i]["captions"][c] for i, c in zip(idx, chosen)]
            lr = PEAK_LR * (step / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))))
            for g in opt.param_groups:
                g["lr"] = lr
            img = F.normalize(export_onnx.VisionEncoder(model)(normalise(images[idx])), dim=-1)
            txt = F.normalize(export_onnx.TextEncoder(model)(eval_demo.tokenize(texts)), dim=-1)
            logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
            target = matches(items, idx, chosen)
            loss = (soft_cross_entropy(logits, target) + soft_cross_entropy(logits.T, target.T)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps}  loss {loss.item():.3f}  lr {lr:.5f}  {time.time() - started:.0f}s", flush=True)
            if step >= steps:
                break
    model.eval()
    torch.save(model.state_dict(), Path(work) / "clipfind-demo.pt")
    minutes = (time.time() - started) / 60
    export_onnx.export(
        model, out_dir, "clipfind-demo",
        f"trained by models/tools/train_demo.py (seed {seed}, {n_train} generated images, {steps} steps, {minutes:.0f} min on 2 CPU cores)",
        "MIT", "Demo CLIP trained on a generated world of coloured shapes; knows colours, shapes, counts, sizes, positions, backgrounds; nothing else.",
    )
    print(f"exported to {out_dir} after {minutes:.1f} min", flush=True)
    with torch.no_grad():
        reference = eval_demo.evaluate(
            eval_set,
            lambda texts: export_onnx.TextEncoder(model)(eval_demo.tokenize(texts)).numpy(),
            lambda pixels: export_onnx.VisionEncoder(model)(torch.from_numpy(pixels)).numpy(),
        )
    reference["evaluated_by"] = "models/tools/train_demo.py: the PyTorch model, open_clip tokenizer and preprocessing"
    (Path(out_dir) / "reference-eval.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(json.dumps(reference, indent=1))
    return model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--steps", type=int, default=2600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/clipfind-demo-work")
    ap.add_argument("--eval-set", default=str(Path(__file__).resolve().parents[2] / "samples" / "shapes"))
    a = ap.parse_args()
    train(a.out_dir, a.train, a.steps, a.seed, a.work, a.eval_set)
