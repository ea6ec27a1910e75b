"""The indexing loop of Ultralytics' VisualAISearch, for the speed comparison in benches/index.rs.

Like VisualAISearch.extract_image_feature: PIL opens each image, CLIP's preprocessing, one image
per forward pass of the PyTorch model, the feature appended to a FAISS-style list. Same weights as
models/vit-b32-random (seeded), same 2 threads.

    python baseline_visualaisearch.py IMAGE_DIR
Prints: images/s
"""

import sys
import time
from pathlib import Path

import open_clip
import torch
from PIL import Image

import export_onnx


def main():
    folder = Path(sys.argv[1])
    torch.set_num_threads(2)
    model = export_onnx.random_model(export_onnx.vit_b32_config(), seed=0)
    preprocess = open_clip.image_transform(224, is_train=False, mean=export_onnx.OPENAI_MEAN, std=export_onnx.OPENAI_STD)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    features = []
    with torch.no_grad():
        model.get_image_features(pixel_values=preprocess(Image.open(files[0])).unsqueeze(0))  # warm-up
        start = time.perf_counter()
        for f in files:
            pixels = preprocess(Image.open(f)).unsqueeze(0)
            features.append(export_onnx.VisionEncoder(model)(pixels).numpy())
        elapsed = time.perf_counter() - start
    print(f"{len(files) / elapsed:.2f}")


if __name__ == "__main__":
    main()
