"""An int8 image encoder beside a model's fp32 one, kept only when it holds the fidelity bar.

Quantisation with ONNX Runtime, tried fastest first; the first way that holds the bar is kept:

  1. static (calibrated), 7-bit weights: the weights of every MatMul, Gemm and Conv as signed
     int8 per channel (7 bits: without VNNI, x86's u8 x s8 products can saturate), their inputs
     as uint8 with ranges calibrated (99.99th percentile) on images the held-out set does not hold
     (a generated shapes world of another seed, or --calibrate DIR). The attention's own products
     (activation by activation), LayerNorm, softmax and GELU stay fp32;
  2. the same with 8-bit weights;
  3. dynamic: int8 MatMul weights, activations quantised at run time.

Both encoders embed the held-out set and the int8 one is recorded in clipfind-model.json
(`vision.int8_file`, `vision.int8_fidelity`, its sha256) only when:

  - the mean cosine between the two encoders' embeddings of the same image is >= 0.99, and
  - recall@1 and @5 are within 0.01 of fp32's: for the set's text queries, for every caption of
    every image (2,000 on samples/shapes, a finer measure than its 40 queries, where one query
    is 0.025) and image to image. Both encoders are ranked against the fp32 text encoder's query
    embeddings, so only the image side differs.

A set without eval.json (photos) measures cosine alone. A model that misses the bar keeps no
int8 file. --check FILE measures an int8 encoder made elsewhere (a Hub repository's
vision_model_quantized.onnx) the same way and records it when it holds.

    python models/tools/quantize_image.py models/clipfind-demo                       # samples/shapes
    python models/tools/quantize_image.py models/clipfind-demo-bilingual --queries eval-zh.json
    python models/tools/quantize_image.py models/vit-b32-random --set samples/photos  # cosine only
"""

import argparse
import functools
import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageOps
from tokenizers import Tokenizer

import eval_demo
import synth_world

ROOT = Path(__file__).resolve().parents[2]
MIN_COSINE = 0.99
MAX_RECALL_LOSS = 0.01
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def pixels(spec, path):
    """The model's input for one image file, as the engine prepares it (EXIF turned, bicubic)."""
    size = spec["image_size"]
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if spec["vision"].get("resize", "shortest") == "squash":
        img = img.resize((size, size), Image.BICUBIC)
    else:
        # torchvision's Resize and CenterCrop, as open_clip applies them: the long side truncated,
        # the crop's offsets rounded.
        w, h = img.size
        short, long = min(w, h), max(w, h)
        long = int(size * long / short)
        img = img.resize((size, long) if w < h else (long, size), Image.BICUBIC)
        left, top = int(round((img.width - size) / 2)), int(round((img.height - size) / 2))
        img = img.crop((left, top, left + size, top + size))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array(spec["image_mean"], dtype=np.float32)) / np.array(spec["image_std"], dtype=np.float32)
    return x.transpose(2, 0, 1)


class Images(CalibrationDataReader):
    """Calibration batches of preprocessed images for quantize_static."""

    def __init__(self, spec, files, input_name, batch=8):
        self.batches = [np.stack([pixels(spec, f) for f in files[i:i + batch]]) for i in range(0, len(files), batch)]
        self.input_name = input_name
        self.next = iter(self.batches)

    def get_next(self):
        batch = next(self.next, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self):
        self.next = iter(self.batches)


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def embed_images(encoder, spec, files):
    name = spec["vision"]["input"]
    out = [encoder.run(None, {name: np.stack([pixels(spec, f) for f in files[i:i + 16]])})[0] for i in range(0, len(files), 16)]
    return eval_demo.normalised(np.concatenate(out).astype(np.float64))


def embed_texts(model_dir, spec, texts):
    """The fp32 text encoder's normalised embeddings of `texts`, tokenised as the engine does
    (once per run for each list: every method tried ranks the same queries)."""
    return _embed_texts(model_dir, tuple(texts))


@functools.cache
def _embed_texts(model_dir, texts):
    spec = json.loads((model_dir / "clipfind-model.json").read_text())
    text = spec["text"]
    tokenizer = Tokenizer.from_file(str(model_dir / spec["tokenizer"]))
    context = spec["context_length"]
    clean = text.get("clean", "lower")
    rows = []
    for t in texts:
        t = " ".join(t.split())
        t = t.lower() if clean in ("lower", "canonicalize") else t
        if text.get("special_tokens", "clip") == "clip":
            ids = tokenizer.encode(t, add_special_tokens=False).ids[: context - 2]
            ids = [tokenizer.token_to_id("<|startoftext|>")] + ids + [tokenizer.token_to_id("<|endoftext|>")]
        else:
            ids = tokenizer.encode(t).ids[:context]
        rows.append(ids)
    width = context if text.get("padding", "longest") == "fixed" else max(map(len, rows))
    ids = np.array([r + [text.get("pad_id", 0)] * (width - len(r)) for r in rows], dtype=np.int64)
    encoder = session(model_dir / text["file"])
    input_type = encoder.get_inputs()[0].type
    ids = ids.astype(np.int32) if "int32" in input_type else ids
    return eval_demo.normalised(encoder.run([text["output"]], {text["input_ids"]: ids})[0].astype(np.float64))


def recall(model_dir, spec, set_dir, queries_file, files, fp32, int8):
    """Recall@1/5 of both encoders on the set's labelled queries, text to image and image to image."""
    manifest = json.loads((set_dir / "eval.json").read_text())
    queries = json.loads((set_dir / queries_file).read_text())["text_queries"]
    position = {f.name: i for i, f in enumerate(files)}

    def mask(names):
        m = np.zeros(len(files), dtype=bool)
        m[[position[n] for n in names]] = True
        return m

    text = embed_texts(model_dir, spec, [q["text"] for q in queries])
    relevant = [mask(q["relevant"]) for q in queries]
    captions, caption_relevant = caption_queries(manifest["images"], files, queries_file == "eval.json")
    caption_text = embed_texts(model_dir, spec, captions) if captions else None
    out = {}
    for name, img in (("fp32", fp32), ("int8", int8)):
        out[name] = {
            "text": eval_demo.ranking_metrics(text @ img.T, relevant),
            "image": eval_demo.image_to_image_metrics(img, manifest["image_groups"], position, mask),
        }
        if captions:
            out[name]["captions"] = eval_demo.ranking_metrics(caption_text @ img.T, caption_relevant)
    return out


def caption_queries(images, files, english):
    """Every English caption of every image, relevant where an image has each attribute the
    caption names ("something red": every red image)."""
    if not english:
        return [], []
    labels = {it["file"]: it for it in images}
    texts, relevant = [], []
    for it in images:
        for caption, named in zip(it.get("captions", []), it.get("names", [])):
            texts.append(caption)
            relevant.append(np.array([all(labels[f.name].get(k) == it[k] for k in named) for f in files]))
    return texts, relevant


def calibration_files(spec, folder, count):
    if folder:
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return files, None
    # Another seed than the held-out set's (2) and the training set's (0).
    tmp = tempfile.TemporaryDirectory()
    synth_world.generate(tmp.name, count, seed=11)
    return sorted(Path(tmp.name).iterdir()), tmp


# The ways tried, fastest first.
METHODS = ["static, 7-bit weights", "static, 8-bit weights", "dynamic"]


def products_of_activations(model_path):
    """MatMul nodes neither of whose inputs is a weight: the attention's scores and mix."""
    graph = onnx.load(str(model_path)).graph
    weights = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and not (set(n.input) & weights)]


def quantize(prepared, target, spec, calibration, method):
    if method == "dynamic":
        quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
        return
    quantize_static(
        str(prepared), str(target), Images(spec, calibration, spec["vision"]["input"]),
        quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul", "Gemm", "Conv"],
        nodes_to_exclude=products_of_activations(prepared), per_channel=True,
        reduce_range=method.startswith("static, 7"), activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "CalibPercentile": 99.99},
    )


@functools.cache
def reference(model_dir, set_dir):
    """The set's files and fp32's embeddings of them, made once per run: every method tried is
    measured against the same ones."""
    spec = json.loads((model_dir / "clipfind-model.json").read_text())
    files = sorted(p for p in set_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return files, embed_images(session(model_dir / spec["vision"]["file"]), spec, files)


def fidelity(model_dir, spec, set_dir, queries_file, int8_path):
    files, fp32 = reference(model_dir, set_dir)
    int8 = embed_images(session(int8_path), spec, files)
    cosines = (fp32 * int8).sum(1)
    measured = {"held_out": f"{set_dir.relative_to(ROOT) if set_dir.is_relative_to(ROOT) else set_dir} ({len(files)} images)",
                "cosine_mean": round(float(cosines.mean()), 4), "cosine_min": round(float(cosines.min()), 4)}
    if (set_dir / "eval.json").is_file():
        r = recall(model_dir, spec, set_dir, queries_file, files, fp32, int8)
        for k in (1, 5):
            for key, part in (("recall", "text"), ("caption_recall", "captions"), ("image_recall", "image")):
                if part in r["fp32"]:
                    measured[f"{key}_at_{k}"] = [round(r[e][part][f"recall@{k}"], 4) for e in ("fp32", "int8")]
        measured["held_out"] += f", {r['fp32']['text']['queries']} queries from {queries_file}"
        if "captions" in r["fp32"]:
            measured["held_out"] += f", {r['fp32']['captions']['queries']} captions"
    return measured


def shortfall(measured):
    if measured["cosine_mean"] < MIN_COSINE:
        return f"mean cosine {measured['cosine_mean']} < {MIN_COSINE}"
    for key in [k for k in measured if "recall_at_" in k]:
        if key in measured and measured[key][0] - measured[key][1] > MAX_RECALL_LOSS + 1e-9:
            return f"{key} {measured[key][1]} is more than {MAX_RECALL_LOSS} under fp32's {measured[key][0]}"
    return None


def make(a, spec, source, target):
    """Tries each method in turn, keeping the first that holds the bar (or the last tried)."""
    files, tmp = calibration_files(spec, a.calibrate, a.count)
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        for method in METHODS:
            quantize(prepared, target, spec, files, method)
            measured = {"method": method, **fidelity(a.model_dir, spec, a.set.resolve(), a.queries, target)}
            print(json.dumps(measured))
            print(f"{target}: {target.stat().st_size / 1e6:.1f} MB (fp32 {source.stat().st_size / 1e6:.1f} MB)")
            if not shortfall(measured):
                break
    if tmp:
        tmp.cleanup()
    return measured


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--set", type=Path, default=ROOT / "samples" / "shapes", help="held-out images (with eval.json for recall)")
    ap.add_argument("--queries", default="eval.json", help="the set's query file (eval-zh.json for Chinese)")
    ap.add_argument("--calibrate", help="calibration images [default: 256 generated shapes, seed 11]")
    ap.add_argument("--count", type=int, default=256, help="generated calibration images")
    ap.add_argument("--check", type=Path, help="measure this int8 encoder instead of making one")
    a = ap.parse_args()
    spec_path = a.model_dir / "clipfind-model.json"
    spec = json.loads(spec_path.read_text())
    source = a.model_dir / spec["vision"]["file"]
    target = a.check or source.with_name(source.stem + "-int8.onnx")
    if a.check:
        measured = {"method": "made elsewhere, measured by --check", **fidelity(a.model_dir, spec, a.set.resolve(), a.queries, target)}
    else:
        measured = make(a, spec, source, target)
    why = shortfall(measured)
    if why:
        print(f"not recorded: the int8 encoder misses the bar ({why})")
        target.unlink(missing_ok=not a.check)
        sys.exit(1)
    spec["vision"]["int8_file"] = target.name
    spec["vision"]["int8_fidelity"] = measured
    spec["sha256"][target.name] = hashlib.sha256(target.read_bytes()).hexdigest()
    spec_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    print(f"recorded {target.name} in {spec_path}")


if __name__ == "__main__":
    main()
