"""Reference evaluation of a demo model on a held-out set (samples/shapes/eval.json), the numbers
the Rust pipeline (`clipfind eval`) must match.

Text to image: each query ranks every image; an image is relevant when eval.json lists it.
Image to image: each image of a same-attributes group ranks the others. recall@K: share of
queries with a relevant image in the top K; MRR: mean of 1 / rank of the first relevant image;
precision@5: mean share of relevant images in the top 5.

    python eval_demo.py MODEL_DIR [--set samples/shapes]     # ONNX model, run by onnxruntime

train_demo.py calls evaluate() with the PyTorch model it has just trained.
"""

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import open_clip
from PIL import Image

import export_onnx


def ranking_metrics(scores, relevant):
    """scores: [queries, images]; relevant: per query, a boolean row over images."""
    first, precision = [], []
    for row, rel in zip(scores, relevant):
        hits = rel[np.argsort(-row, kind="stable")]
        first.append(int(np.argmax(hits)) + 1)
        precision.append(float(hits[:5].mean()))
    first = np.array(first)
    out = {f"recall@{k}": float((first <= k).mean()) for k in (1, 5, 10)}
    out["mrr"] = float((1 / first).mean())
    out["precision@5"] = float(np.mean(precision))
    out["queries"] = len(first)
    return out


def normalised(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def evaluate(set_dir, embed_texts, embed_images):
    """embed_texts(list of str) and embed_images(float32 [n, 3, 224, 224]) return [n, D] arrays."""
    set_dir = Path(set_dir)
    manifest = json.loads((set_dir / "eval.json").read_text())
    files = [it["file"] for it in manifest["images"]]
    preprocess = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)
    img = normalised(np.concatenate([
        embed_images(np.stack([preprocess(Image.open(set_dir / f)).numpy() for f in files[i:i + 32]]))
        for i in range(0, len(files), 32)
    ]))
    queries = manifest["text_queries"]
    txt = normalised(np.concatenate([embed_texts([q["text"]]) for q in queries]))
    position = {f: i for i, f in enumerate(files)}

    def mask(names):
        m = np.zeros(len(files), dtype=bool)
        m[[position[n] for n in names]] = True
        return m

    text = ranking_metrics(txt @ img.T, [mask(q["relevant"]) for q in queries])
    image = image_to_image_metrics(img, manifest["image_groups"], position, mask)
    return {"images": len(files), "text_to_image": text, "image_to_image": image}


def image_to_image_metrics(img, groups, position, mask):
    """Each image of a group as the query (normalised embeddings `img`), the rest of its group relevant."""
    rows, relevant = [], []
    for group in groups:
        for f in group:
            scores = img @ img[position[f]]
            scores[position[f]] = -np.inf  # an image is not its own neighbour
            rows.append(scores)
            relevant.append(mask([g for g in group if g != f]))
    return ranking_metrics(np.array(rows), relevant)


@functools.cache
def _tokenizer():
    return open_clip.get_tokenizer("ViT-B-32")


def tokenize(texts):
    """open_clip's ids, trimmed to the longest text (the engine too runs only real tokens)."""
    ids = _tokenizer()(texts)
    return ids[:, : int((ids != 0).sum(1).max())]


def main():
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--set", default=str(Path(__file__).resolve().parents[2] / "samples" / "shapes"))
    a = ap.parse_args()
    model = Path(a.model_dir)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    text = ort.InferenceSession(str(model / "text.onnx"), opts)
    vision = ort.InferenceSession(str(model / "vision.onnx"), opts)
    result = evaluate(
        a.set,
        lambda texts: text.run(None, {"input_ids": tokenize(texts).numpy().astype(np.int64)})[0],
        lambda pixels: vision.run(None, {"pixel_values": pixels})[0],
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
