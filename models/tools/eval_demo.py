"""Reference evaluation of a demo model (Python: onnxruntime + open_clip's tokenizer and
preprocessing) on a held-out generated set, for comparison with the Rust pipeline.

Queries are "a {colour} {shape}" for every pair present; an image is relevant when it has that
colour and shape. recall@K: share of queries with a relevant image in the top K; MRR: mean of
1 / rank of the first relevant image; precision@5 too.

    python eval_demo.py MODEL_DIR [--count 500] [--seed 2]
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import open_clip
from PIL import Image

import export_onnx
import synth_world


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=2)
    a = ap.parse_args()
    model = Path(a.model_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    text = ort.InferenceSession(str(model / "text.onnx"), opts)
    vision = ort.InferenceSession(str(model / "vision.onnx"), opts)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    preprocess = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)
    with tempfile.TemporaryDirectory() as tmp:
        items = synth_world.generate(tmp, a.count, a.seed)
        embs = []
        for i in range(0, len(items), 32):
            batch = np.stack([preprocess(Image.open(Path(tmp) / it["file"])).numpy() for it in items[i:i + 32]])
            embs.append(vision.run(None, {"pixel_values": batch})[0])
    img = np.concatenate(embs)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    pairs = sorted({(it["color"], it["shape"]) for it in items})
    ranks, precision = [], []
    for color, shape in pairs:
        ids = tokenizer([f"a {color} {shape}"])
        ids = ids[:, : int((ids != 0).sum())]
        q = text.run(None, {"input_ids": ids.numpy().astype(np.int64)})[0][0]
        q /= np.linalg.norm(q)
        order = np.argsort(-(img @ q))
        relevant = [items[j]["color"] == color and items[j]["shape"] == shape for j in order]
        ranks.append(relevant.index(True) + 1)
        precision.append(sum(relevant[:5]) / 5)
    ranks = np.array(ranks)
    result = {f"recall@{k}": float((ranks <= k).mean()) for k in (1, 5, 10)}
    result["mrr"] = float((1 / ranks).mean())
    result["precision@5"] = float(np.mean(precision))
    result["queries"] = len(pairs)
    result["images"] = len(items)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
