"""Export a transformers CLIPModel to a clipfind model folder.

A clipfind model folder holds text.onnx (input_ids [batch, seq] int64 -> text_embeds [batch, D]),
vision.onnx (pixel_values [batch, 3, S, S] float32 -> image_embeds [batch, D]), tokenizer.json and
clipfind-model.json. Embeddings are the projected, unnormalised features (clipfind normalises).

    python export_onnx.py --tiny OUT_DIR             # seeded random ~4 MB test model
    python export_onnx.py --vit-b32-random OUT_DIR   # full ViT-B/32 architecture, random (benchmarks)
    python export_onnx.py --pretrained openai/clip-vit-base-patch32 OUT_DIR   # needs internet
"""

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

import build_tokenizer

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
OPSET = 20


class TextEncoder(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, input_ids):
        pooled = self.clip.text_model(input_ids=input_ids).pooler_output
        return self.clip.text_projection(pooled)


class VisionEncoder(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, pixel_values):
        pooled = self.clip.vision_model(pixel_values=pixel_values).pooler_output
        return self.clip.visual_projection(pooled)


def clip_config(text_width, text_layers, text_heads, vision_width, vision_layers, vision_heads):
    """CLIP's vocabulary, 77-token context, 224/32 input and 512-d output, at the given sizes."""
    return CLIPConfig(
        text_config=dict(
            vocab_size=49408, hidden_size=text_width, intermediate_size=4 * text_width,
            num_hidden_layers=text_layers, num_attention_heads=text_heads, max_position_embeddings=77,
            bos_token_id=49406, eos_token_id=49407,
        ),
        vision_config=dict(
            hidden_size=vision_width, intermediate_size=4 * vision_width, num_hidden_layers=vision_layers,
            num_attention_heads=vision_heads, image_size=224, patch_size=32,
        ),
        projection_dim=512,
    )


def tiny_config():
    return clip_config(16, 2, 2, 32, 2, 2)


def vit_b32_config():
    return clip_config(512, 12, 8, 768, 12, 12)


def eager_attention(model):
    """Export plain MatMul/Softmax attention: ONNX Runtime fuses it; the SDPA export it does not
    (measured: text 7.0 vs 9.9 ms, images 19 vs 16 per second on 2 cores)."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    for config in (model.config, model.config.text_config, model.config.vision_config):
        config._attn_implementation = "eager"
    return model


def random_model(config, seed):
    torch.manual_seed(seed)
    model = eager_attention(CLIPModel(config).eval())
    # transformers initialises the logit scale and some weights with tiny spreads; widen the
    # token embeddings so different texts give clearly different random embeddings.
    with torch.no_grad():
        model.text_model.embeddings.token_embedding.weight.normal_(0, 0.5)
    return model


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(model, out_dir, name, source, license, description, tokenizer_json=None):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = model.config.vision_config.image_size
    ctx = model.config.text_config.max_position_embeddings
    ids = torch.tensor([[49406, 320, 1929, 49407], [49406, 320, 49407, 0]], dtype=torch.long)
    pixels = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.onnx.export(
            TextEncoder(model), (ids,), out_dir / "text.onnx", input_names=["input_ids"],
            output_names=["text_embeds"], dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
            "text_embeds": {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )
        torch.onnx.export(
            VisionEncoder(model), (pixels,), out_dir / "vision.onnx", input_names=["pixel_values"],
            output_names=["image_embeds"], dynamic_axes={"pixel_values": {0: "batch"},
            "image_embeds": {0: "batch"}}, opset_version=OPSET, dynamo=False,
        )
    if tokenizer_json:
        shutil.copy(tokenizer_json, out_dir / "tokenizer.json")
    else:
        tok = build_tokenizer.build()
        build_tokenizer.check(tok)
        tok.save(str(out_dir / "tokenizer.json"))
    files = ["text.onnx", "vision.onnx", "tokenizer.json"]
    spec = {
        "format": 1,
        "name": name,
        "description": description,
        "source": source,
        "license": license,
        "embedding_dim": model.config.projection_dim,
        "image_size": size,
        "image_mean": OPENAI_MEAN,
        "image_std": OPENAI_STD,
        "context_length": ctx,
        "text": {"file": "text.onnx", "input_ids": "input_ids", "attention_mask": None, "output": "text_embeds"},
        "vision": {"file": "vision.onnx", "input": "pixel_values", "output": "image_embeds"},
        "tokenizer": "tokenizer.json",
        "sha256": {f: sha256(out_dir / f) for f in files},
    }
    (out_dir / "clipfind-model.json").write_text(json.dumps(spec, indent=2) + "\n")
    total = sum((out_dir / f).stat().st_size for f in files)
    print(f"exported {name} to {out_dir} ({total / 1e6:.1f} MB)")
    return spec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = ap.add_mutually_exclusive_group(required=True)
    kind.add_argument("--tiny", action="store_true")
    kind.add_argument("--vit-b32-random", action="store_true")
    kind.add_argument("--pretrained", metavar="HF_ID_OR_DIR")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.tiny:
        export(random_model(tiny_config(), a.seed), a.out_dir, "test-tiny",
               f"random weights, seed {a.seed} (models/tools/export_onnx.py --tiny)", "MIT",
               "Tiny random-weight CLIP for tests: real vocabulary, 224/32 input, 512-d output. Knows nothing.")
    elif a.vit_b32_random:
        export(random_model(vit_b32_config(), a.seed), a.out_dir, "vit-b32-random",
               f"random weights, seed {a.seed} (models/tools/export_onnx.py --vit-b32-random)", "MIT",
               "ViT-B/32 architecture with random weights: for speed benchmarks only.")
    else:
        model = eager_attention(CLIPModel.from_pretrained(a.pretrained).eval())
        export(model, a.out_dir, Path(a.pretrained).name, a.pretrained, "MIT (OpenAI CLIP)",
               f"{a.pretrained} exported by models/tools/export_onnx.py")


if __name__ == "__main__":
    main()
