"""An int8 text encoder beside a model's fp32 one: ONNX Runtime dynamic quantisation (int8
weights, activations quantised at run time) of the text tower only, so the vision encoder (and
so every index) stays fp32. Records it in clipfind-model.json as `text.int8_file` with its
sha256; clipfind uses it with --text-int8.

    python models/tools/quantize_text.py models/clipfind-demo
"""
import hashlib
import json
import sys
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic


def main(model_dir: Path) -> None:
    spec_path = model_dir / "clipfind-model.json"
    spec = json.loads(spec_path.read_text())
    source = model_dir / spec["text"]["file"]
    target = source.with_name(source.stem + "-int8.onnx")
    # MatMul and Gather weights as signed int8 per channel: the attention and MLP matrices and
    # the token embedding table are most of the tower's bytes. 7-bit weights (reduce_range): on
    # x86 CPUs without VNNI (AVX2 only), ONNX Runtime multiplies u8 activations by s8 weights in
    # 16-bit sums that saturate with full-range weights; 8-bit weights measured cosine 0.92-0.97
    # to fp32 on such a CPU, 7-bit 0.9997.
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    spec["text"]["int8_file"] = target.name
    spec["sha256"][target.name] = hashlib.sha256(target.read_bytes()).hexdigest()
    spec_path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB (fp32 {source.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
