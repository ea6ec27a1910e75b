"""Train the small demo CLIP on the generated shapes world and export it as models/clipfind-demo.

transformers' CLIPModel architecture, the real CLIP tokenizer (open_clip's ids), 224 px input with
open_clip's preprocessing, exported by export_onnx.py, so the Rust engine runs it unchanged.
Seeded, CPU only; --minutes bounds the training time (30 fits 2 cores).

    python train_demo.py OUT_DIR [--train 6000] [--minutes 25] [--seed 0]
"""

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image

import export_onnx
import synth_world


def pixels(images):
    """open_clip's Resize + CenterCrop as uint8 (normalised per batch, which saves memory)."""
    resize_crop = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)
    steps = [t for t in resize_crop.transforms if type(t).__name__ in ("Resize", "CenterCrop")]
    out = np.empty((len(images), 224, 224, 3), dtype=np.uint8)
    for i, img in enumerate(images):
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
    images = [Image.open(Path(folder) / it["file"]) for it in items]
    return items, pixels(images)


def tokens(tokenizer, texts):
    ids = tokenizer(texts)
    width = int((ids != 0).sum(1).max())
    return ids[:, :width]


def train(out_dir, n_train, minutes, seed, work):
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(2)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    items, images = dataset(Path(work) / "train", n_train, seed + 100)
    model = export_onnx.eager_attention(
        export_onnx.CLIPModel(export_onnx.clip_config(32, 4, 4, 96, 4, 4))
    ).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    batch, started, step = 128, time.time(), 0
    budget = minutes * 60
    while time.time() - started < budget:
        order = torch.randperm(len(items))
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start:start + batch].tolist()
            texts = [random.choice(items[i]["captions"]) for i in idx]
            lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * min(1.0, (time.time() - started) / budget)))
            for g in opt.param_groups:
                g["lr"] = lr
            img = F.normalize(export_onnx.VisionEncoder(model)(normalise(images[idx])), dim=-1)
            txt = F.normalize(export_onnx.TextEncoder(model)(tokens(tokenizer, texts)), dim=-1)
            logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
            # Same-attribute pairs in a batch are not negatives of each other.
            same = torch.tensor([[items[a]["captions"][0] == items[b]["captions"][0] for b in idx] for a in idx], dtype=torch.float)
            target = same / same.sum(1, keepdim=True)
            loss = (torch.sum(-target * F.log_softmax(logits, 1), 1).mean() + torch.sum(-target * F.log_softmax(logits.T, 1), 1).mean()) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 20 == 0:
                print(f"step {step}  loss {loss.item():.3f}  lr {lr:.5f}  {time.time() - started:.0f}s", flush=True)
            if time.time() - started >= budget:
                break
    model.eval()
    export_onnx.export(
        model, out_dir, "clipfind-demo",
        f"trained by models/tools/train_demo.py (seed {seed}, {n_train} generated images, {minutes} min)",
        "MIT", "Demo CLIP trained on a generated world of coloured shapes; knows colours, shapes, counts, sizes, positions, backgrounds; nothing else.",
    )
    return model


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/clipfind-demo-work")
    a = ap.parse_args()
    train(a.out_dir, a.train, a.minutes, a.seed, a.work)
