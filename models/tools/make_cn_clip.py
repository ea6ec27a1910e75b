"""Chinese-CLIP (OFA-Sys, PyPI `cn_clip`) in clipfind's own layout: tokenizer JSON, ONNX export, fixtures.

Chinese-CLIP pairs OpenAI's ViT (or ResNet) with a Chinese RoBERTa-wwm (BERT) text tower. Its text
side is cn_clip's own BERT tokenizer (`cn_clip.clip.tokenize`: [CLS] + ids[:50] + [SEP], padded
with 0 to 52); its image side is `cn_clip.clip.image_transform`: resize both sides (no crop),
bicubic, then RGB, OpenAI mean/std. This script writes, from cn_clip's own code:

    tokenizer.json      the tokenizer as a Hugging Face `tokenizers` JSON built from cn_clip's vocab.txt,
                        checked id-for-id against cn_clip.clip.tokenize
    text.onnx           text tower, exported as cn_clip/deploy/pytorch_to_onnx.py does: input int64
    vision.onnx         `text` [1, 52] -> `unnorm_text_features`; float32 `image` [1, 3, S, S] ->
                        `unnorm_image_features` (unnormalised; clipfind normalises)
    clipfind-model.json format 2, "family": "chinese-clip"

    python make_cn_clip.py                                      # tiny random model + fixtures (tests/fixtures/families/cnclip*)
    python make_cn_clip.py --tokenizer OUT/tokenizer.json       # the tokenizer alone
    python make_cn_clip.py --sweep                              # tokenizer vs cn_clip on every code point (~10 min)
    python make_cn_clip.py --convert ViT-B-16 OUT_DIR           # official weights (downloads from OFA-Sys' Hub repo)
    python make_cn_clip.py --convert ViT-B-16 OUT_DIR --checkpoint clip_cn_vit-b-16.pt   # an already downloaded .pt
    python make_cn_clip.py --random-full ViT-B-16 models/bench-cnclip-b16                # random weights, timing only

--random-full writes a seeded random checkpoint of the named architecture and converts it with the
--checkpoint code path (cn_clip.clip.load_from_name), so the bench model tests the real path.
The tiny model is built with cn_clip's own CLIP class (its create_model reads configs only from the
installed package) and goes through the same export and checks.

The official exporter is a script (its module-level `from clip.utils import ...` and `onnxmltools`
import, and its `checkpoint` global, keep it from being imported and called); export() replicates
its torch.onnx.export calls exactly (names, no dynamic axes, opset 13, no constant folding for the
vision tower) with one necessary change: under torch >= 2.0 nn.MultiheadAttention (the ViT) traces
to scaled_dot_product_attention, which has no opset-13 symbolic, so a tower that fails at 13 is
exported at 14. The fp16 copies the official script also writes are not made.
"""

import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image, ImageOps
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from torchvision.transforms import InterpolationMode, Normalize, Resize

import cn_clip
import cn_clip.clip as cnclip
from cn_clip.clip import _tokenizer as CN_TOKENIZER
from cn_clip.clip.bert_tokenizer import _is_control, _is_punctuation
from cn_clip.clip.model import CLIP, convert_weights
from cn_clip.clip.utils import _MODEL_INFO, _MODELS, create_model, image_transform, load_from_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_family_models import (FAMILIES, IMAGE_FILES, IMAGES, ROOT, SEED, OnnxCheck, onnx_io,  # noqa: E402
                                strip_pad, unit)
from make_family_models import TEXTS as FAMILY_TEXTS  # noqa: E402

CONTEXT_LENGTH = 52  # cn_clip.clip.tokenize's default; "all baseline models use 52"
OPSET = 13  # cn_clip/deploy/pytorch_to_onnx.py
TEXT_IO = ("text", "unnorm_text_features")
VISION_IO = ("image", "unnorm_image_features")
OUT_TINY = FAMILIES / "cnclip"

# The tiny model: cn_clip's CLIP (ViT + BERT) with the real vocabulary, everything else tiny.
TINY = dict(
    embed_dim=64, image_resolution=224, vision_layers=2, vision_width=32, vision_patch_size=16, vision_head_width=16,
    vocab_size=21128, text_attention_probs_dropout_prob=0.1, text_hidden_act="gelu", text_hidden_dropout_prob=0.1,
    text_hidden_size=32, text_initializer_range=0.02, text_intermediate_size=64, text_max_position_embeddings=512,
    text_num_attention_heads=2, text_num_hidden_layers=2, text_type_vocab_size=2)

LONG_ZH = ("在一个阳光明媚的早晨，一只可爱的小狗和它的主人一起在公园里散步，他们经过了美丽的湖泊、高大的树木和五颜六色的花朵，"
           "最后坐在湖边的长椅上休息，看着远处的山和天空中飘过的白云。")
LONG_EN = ("a very long english caption about a golden retriever puppy playing fetch with a red ball on a sandy beach "
           "while the sun sets behind the mountains and seagulls fly over the calm blue water near an old wooden pier")
CN_TEXTS = [
    "蓝色的圆", "三颗黄色的星", "红色的正方形", "海边的日落",
    "一只dog在bench上", "iPhone 15 Pro 拍的照片", "用Python写的AI程序",
    "你好，世界！", "（括号）【方括号】《书名》", "“中文引号”‘单引号’——破折号……省略号、顿号。",
    "ＡＢＣ１２３", "ｆｕｌｌ－ｗｉｄｔｈ　ｌｅｔｔｅｒｓ！", "2023年12月31日", "3.14159", "价格¥1,299.00元，折扣15%", "第1名 vs 第２名",
    "🐶狗狗🎉", "👨\u200d👩\u200d👧 一家人 🏳\ufe0f\u200d🌈", "🥰🫠新表情",
    "臺灣的風景", "電腦與鍵盤", "\uf900\uf901\u2f00\u2e80 兼容汉字和部首",
    "ひらがなとカタカナ、がぎぐげご・パピプペポ", "東京タワーの夜景", "바닷가의 일몰", "고양이가 소파에서 자고 있다",
    "café naïve résumé", "nai\u0308ve cafe\u0301 Ångström ﬁsh ﬂowers", "İSTANBUL'DA BİR KEDİ",
    "A PHOTO OF A DOG ON THE BEACH", "UPPER lower MiXeD 中文 ENGLISH",
    "ΟΔΟΣ ΑΘΗΝΑΣ, Ο ΣΟΦΟΣ.", "ΑΣ'Α Α.Σ Α'Σ. ΣΣΣ", "Собака на скамейке", "قطة على الأريكة", "แมวบนโซฟา",
    "tab\there\nnew\u3000line", "zero\u200bwidth", "\u0000null", "soft\u00adhyphen and \ufeffBOM", "\ufffd replacement",
    "a\u2028b\u2029c\u00a0d\u1680e\u202ff\u205fg\x0bh\x0ci\x1cj\x85k",
    LONG_ZH, LONG_EN, LONG_ZH + LONG_EN,
    "", "   ", "\t\n ",
    "𠀀𪚥", "\U0002b820中\U0002b8ffx\U0002b920", "\U00030000\U00031350 扩展G",
    "x" * 200, "y" * 201, "supercalifragilistic" * 12,
    "https://www.example.com/path/to/page?q=猫&lang=zh-CN#top", "contact.me+tag@example.co.uk 发邮件",
    "&amp; <b>加粗</b> &lt;i&gt;", "[CLS] [SEP] [MASK] [PAD] [UNK] [unused1] ##ing",
    "\ue000私用区\uf8ff\U000f0000", "A\u061db\u0898c\u166dd\u1734e",
]
TEXTS = list(dict.fromkeys(CN_TEXTS + FAMILY_TEXTS))


# --- tokenizer ----------------------------------------------------------------------------------

def _code_points():
    return [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]


def unicode_ranges(pred):
    """Inclusive code point ranges where `pred` holds (surrogates skipped)."""
    out = []
    for cp in _code_points():
        if pred(cp):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def char_class(ranges, brackets=True):
    """A regex character class of explicit code points: no Unicode tables, so Oniguruma (Python
    `tokenizers`) and fancy-regex (the Rust crate clipfind builds) match the same characters."""
    def esc(cp):
        return f"\\x{{{cp:X}}}"
    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return f"[{body}]" if brackets else body


def build_tokenizer():
    """cn_clip's FullTokenizer (BasicTokenizer + WordpieceTokenizer, do_lower_case=True) as a
    `tokenizers` JSON.

    BertNormalizer / BertPreTokenizer alone differ from cn_clip where `tokenizers` uses its own old
    Unicode tables (unicode_categories): its clean_text also drops private-use characters (Co) that
    cn_clip keeps (as [UNK]), and its mark / punctuation tables miss characters newer Unicode
    assigns; its CJK ranges have 0x2B920 where cn_clip (and Google's BERT) have 0x2B820; and its
    lower-casing is per character, where Python's str.lower() writes a final capital sigma as 'ς'.
    So each step cn_clip takes is written out with explicit code point classes taken from cn_clip's
    own predicates under this Python's unicodedata:

      cn_clip BasicTokenizer                   here
      _clean_text: drop NUL, U+FFFD, Cc, Cf     Replace(class, "")  (whitespace: split below)
      _tokenize_chinese_chars                   BertNormalizer(handle_chinese_chars) + isolate 2B820-2B91F
      token.lower()  (per whitespace token)     Replace(final-sigma rule, "ς"), Lowercase
      _run_strip_accents: NFD, drop Mn          NFD, Replace(Mn class, "")
      whitespace split, _run_split_on_punc      WhitespaceSplit, Split(punctuation class, isolated)
      WordpieceTokenizer(max 200 chars, ##)     WordPiece(max_input_chars_per_word=200)
    """
    vocab = dict(CN_TOKENIZER.vocab)  # as cn_clip reads vocab.txt (line.strip(): '\u2028' is '')
    assert len(vocab) == 21128 and CN_TOKENIZER.basic_tokenizer.do_lower_case
    max_chars = CN_TOKENIZER.wordpiece_tokenizer.max_input_chars_per_word
    unk = CN_TOKENIZER.wordpiece_tokenizer.unk_token
    control = unicode_ranges(lambda cp: cp == 0 or cp == 0xFFFD or _is_control(chr(cp)))
    marks = unicode_ranges(lambda cp: unicodedata.category(chr(cp)) == "Mn")
    punct = unicode_ranges(lambda cp: _is_punctuation(chr(cp)))
    # Python's Final_Sigma context: \p{cased} \p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}),
    # both sets read off str.lower() itself. Constant-size look-behinds (both engines need them) cover
    # up to two case-ignorable characters between the cased letter and the sigma.
    cased = unicode_ranges(lambda cp: (chr(cp) + "\u03a3").lower()[-1] == "\u03c2")
    cased_set = {cp for a, b in cased for cp in range(a, b + 1)}
    ignorable = unicode_ranges(lambda cp: cp not in cased_set and ("A" + chr(cp) + "\u03a3").lower()[-1] == "\u03c2")
    c, i = char_class(cased), char_class(ignorable)
    final_sigma = f"(?:(?<={c})|(?<={c}{i})|(?<={c}{i}{i}))\u03a3(?!{i}*{c})"
    # cn_clip's _is_chinese_char ranges that tokenizers' BertNormalizer lacks.
    extra_cjk = [[0x2B820, 0x2B91F]]

    tok = Tokenizer(WordPiece(vocab=vocab, unk_token=unk, continuing_subword_prefix="##",
                              max_input_chars_per_word=max_chars))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(char_class(control)), ""),
        normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False),
        normalizers.Replace(Regex(final_sigma), "\u03c2"),
        normalizers.Lowercase(),
        normalizers.NFD(),
        normalizers.Replace(Regex(char_class(marks)), ""),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex("[" + char_class(punct, False) + char_class(extra_cjk, False) + "]"), behavior="isolated"),
    ])
    cls_id, sep_id = CN_TOKENIZER.vocab["[CLS]"], CN_TOKENIZER.vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece(prefix="##")
    # No added tokens: cn_clip does not treat "[CLS]" typed in a text as special (it is "[", "cl", "##s", "]").
    return tok


def tokenizer_settings():
    w = CN_TOKENIZER.wordpiece_tokenizer
    return {"kind": "cn_clip FullTokenizer: BERT BasicTokenizer + WordPiece over cn_clip/clip/vocab.txt",
            "vocab_size": len(CN_TOKENIZER.vocab), "do_lower_case": CN_TOKENIZER.basic_tokenizer.do_lower_case,
            "strip_accents": CN_TOKENIZER.basic_tokenizer.do_lower_case, "max_input_chars_per_word": w.max_input_chars_per_word,
            "unk": {"token": w.unk_token, "id": CN_TOKENIZER.vocab[w.unk_token]},
            "cls": {"token": "[CLS]", "id": CN_TOKENIZER.vocab["[CLS]"]},
            "sep": {"token": "[SEP]", "id": CN_TOKENIZER.vocab["[SEP]"]},
            "pad": {"token": "[PAD]", "id": CN_TOKENIZER.vocab["[PAD]"]},
            "post_processor_single": ["[CLS]", "$A", "[SEP]"], "unicode_version": unicodedata.unidata_version}


def reference_ids(texts):
    return cnclip.tokenize(list(texts), context_length=CONTEXT_LENGTH).tolist()


def json_tokenizer(path):
    """The tokenizer JSON as clipfind runs it: post-processor specials, truncation to the context
    length (the body cut so [CLS] and [SEP] fit), then padding with 0 to the context length."""
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=CONTEXT_LENGTH)
    pad = CN_TOKENIZER.vocab["[PAD]"]

    def encode(texts):
        return [e.ids + [pad] * (CONTEXT_LENGTH - len(e.ids)) for e in tok.encode_batch(list(texts), add_special_tokens=True)]
    return encode


def check_tokenizer(path, texts):
    """Full padded rows, id for id; fails loudly on any difference."""
    encode = json_tokenizer(path)
    bad = [(t, want, got) for t, want, got in zip(texts, reference_ids(texts), encode(texts)) if want != got]
    for text, want, got in bad[:10]:
        print(f"tokenizer.json differs from cn_clip.clip.tokenize on {text!r}:\n  {strip_pad(want, 0)}\n  {strip_pad(got, 0)}")
    if bad:
        raise SystemExit(f"{path}: {len(bad)} of {len(texts)} texts differ from cn_clip")
    return len(texts)


def sweep(path):
    """Every code point (surrogates aside) alone and in contexts that exercise word splitting and
    Python's final-sigma rule, against cn_clip.clip.tokenize."""
    encode = json_tokenizer(path)
    contexts = [lambda c: c, lambda c: "A" + c + "b", lambda c: "Α" + c + "Σ", lambda c: "ΑΣ" + c + "Α",
                lambda c: "Α" + c + c + "Σ", lambda c: c + "Σ", lambda c: "ΑΣ" + c]
    cps, bad, start = _code_points(), [], time.time()
    for k, ctx in enumerate(contexts):
        for i in range(0, len(cps), 20000):
            texts = [ctx(chr(cp)) for cp in cps[i:i + 20000]]
            bad += [t for t, a, b in zip(texts, reference_ids(texts), encode(texts)) if a != b]
        print(f"  context {k}: {len(cps)} code points, {len(bad)} differences so far ({time.time() - start:.0f} s)", flush=True)
    for text in bad[:20]:
        print(f"  differs: {text!r} {[hex(ord(ch)) for ch in text]}")
    if bad:
        raise SystemExit(f"{len(bad)} differences")
    print(f"sweep: tokenizer.json matches cn_clip on all {len(cps) * len(contexts)} texts")


def write_tokenizer(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    build_tokenizer().save(str(path))
    n = check_tokenizer(path, TEXTS)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, matches cn_clip.clip.tokenize id for id on {n} texts")


# --- preprocessing ------------------------------------------------------------------------------

def preprocess_facts(preprocess, resolution):
    """What cn_clip's eval transform does, read off the transform itself (and checked)."""
    steps = preprocess.transforms
    resize = next(s for s in steps if isinstance(s, Resize))
    norm = next(s for s in steps if isinstance(s, Normalize))
    rgb = next(i for i, s in enumerate(steps) if getattr(s, "__name__", "") == "_convert_to_rgb")
    assert tuple(resize.size) == (resolution, resolution), resize.size  # both sides: squash, no crop
    assert resize.interpolation == InterpolationMode.BICUBIC, resize.interpolation
    assert steps.index(resize) < rgb, "cn_clip resizes before converting to RGB"
    assert not any(type(s).__name__ == "CenterCrop" for s in steps)
    return {"resize": "squash", "interpolation": "bicubic", "mean": [float(x) for x in norm.mean],
            "std": [float(x) for x in norm.std], "rgb": "after resize"}


def load_image(preprocess, name):
    return preprocess(ImageOps.exif_transpose(Image.open(IMAGES / name))).unsqueeze(0)


# --- models -------------------------------------------------------------------------------------

def tiny_model():
    """Seeded random tiny Chinese-CLIP, built as cn_clip's create_model builds (CLIP(**config),
    convert_weights to fp16) and as load_from_name hands it out on the CPU (.float())."""
    torch.manual_seed(SEED)
    model = CLIP(**TINY)
    # BERT's 0.02 init leaves a 32-wide, 2-layer tower's [CLS] output all but constant (every text
    # cosine ~1.0000); at ~1/sqrt(32), PyTorch's default scale, texts with different ids come apart
    # (median cosine ~0.8, 0.99 for rows that differ in one id), so the fixtures can tell them apart.
    for module in model.bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data.normal_(0, 0.2)
    convert_weights(model)
    return model.float().eval(), image_transform(TINY["image_resolution"]), TINY["image_resolution"]


def official_model(name, checkpoint=None, download_root=None, use_modelscope=False):
    """The official weights through cn_clip.clip.load_from_name: downloaded (OFA-Sys' repositories)
    or from an already downloaded .pt file."""
    info = _MODEL_INFO[name]
    try:
        if checkpoint:
            vision, text = info["struct"].split("@")
            model, preprocess = load_from_name(str(checkpoint), device="cpu", vision_model_name=vision,
                                               text_model_name=text, input_resolution=info["input_resolution"])
        else:
            model, preprocess = load_from_name(name, device="cpu", download_root=download_root, use_modelscope=use_modelscope)
    except Exception as e:  # noqa: BLE001
        if "weights_only" in str(e):
            raise SystemExit(f"torch.load refused the checkpoint as weights-only: {e}\nIf you trust the file, "
                             "rerun with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment.") from e
        raise
    return model.float().eval(), preprocess, info["input_resolution"]


def random_checkpoint(name, path):
    """A seeded random checkpoint of `name`'s architecture, shaped like the official ones
    ({"state_dict": {"module.<param>": fp16 tensor}})."""
    torch.manual_seed(SEED)
    model = create_model(_MODEL_INFO[name]["struct"])  # cn_clip's own: random init, fp16 weights
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 0, "step": 0, "name": f"random-{name}", "state_dict": sd}, path)


# --- export -------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet_stdout():
    """File descriptor 1 to /dev/null: a failing TorchScript export prints its whole partial graph
    from C++."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _export_tower(model, args, path, names, dynamic_batch, **kwargs):
    """torch.onnx.export as cn_clip's pytorch_to_onnx.py calls it (legacy TorchScript exporter),
    at opset 13, else 14 when a traced op has no opset-13 form."""
    dynamic_axes = {n: {0: "batch"} for n in names} if dynamic_batch else None
    for opset in (OPSET, OPSET + 1):
        try:
            with warnings.catch_warnings(), quiet_stdout():
                warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
                torch.onnx.export(model, args, str(path), input_names=[names[0]], output_names=[names[1]],
                                  export_params=True, opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, **kwargs)
            return opset
        except torch.onnx.errors.UnsupportedOperatorError as e:
            if opset != OPSET:
                raise
            print(f"  {path.name}: opset {OPSET} cannot express {str(e).split(chr(39))[1]}; exporting at {OPSET + 1}")


def _place(tmp, out):
    """Move an exported graph into the model folder; graphs over 2 GB (ViT-H-14's vision tower)
    keep their weights in one `<file>.data` beside it, as the official script packs them."""
    size = sum(f.stat().st_size for f in tmp.parent.iterdir())
    if size < 2_000_000_000:
        shutil.move(str(tmp), str(out))
        return [out]
    onnx.save_model(onnx.load(str(tmp)), str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{out.name}.data", size_threshold=1024)
    return [out, out.with_name(f"{out.name}.data")]


def export(model, resolution, out, dynamic_batch=False):
    """text.onnx and vision.onnx in `out` from a cn_clip CLIP (float32, eval)."""
    image = image_transform(resolution)(Image.new("RGB", (resolution, resolution))).unsqueeze(0)
    text = cnclip.tokenize([""], context_length=CONTEXT_LENGTH)
    files, opsets = [], {}
    with torch.no_grad():
        for key, args, names, kwargs in [("text", (None, text), TEXT_IO, {}),
                                         ("vision", (image, None), VISION_IO, {"do_constant_folding": False})]:
            with tempfile.TemporaryDirectory(dir=out) as tmp:
                tmp = Path(tmp) / f"{key}.onnx"
                opsets[key] = _export_tower(model, args, tmp, names, dynamic_batch, **kwargs)
                files += _place(tmp, out / f"{key}.onnx")
    return files, opsets


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_model(model, preprocess, resolution, out, meta, dynamic_batch=False):
    """clipfind's layout: text.onnx, vision.onnx, tokenizer.json, clipfind-model.json."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pp = preprocess_facts(preprocess, resolution)
    files, opsets = export(model, resolution, out, dynamic_batch)
    write_tokenizer(out / "tokenizer.json")
    files.append(out / "tokenizer.json")
    spec = {
        "format": 2, **meta, "embedding_dim": int(model.text_projection.shape[1]), "image_size": resolution,
        "image_mean": pp["mean"], "image_std": pp["std"], "context_length": CONTEXT_LENGTH,
        "text": {"file": "text.onnx", "input_ids": TEXT_IO[0], "attention_mask": None, "output": TEXT_IO[1],
                 "clean": "none", "special_tokens": "tokenizer", "padding": "fixed",
                 "pad_id": CN_TOKENIZER.vocab["[PAD]"], "pooling": "done"},
        "vision": {"file": "vision.onnx", "input": VISION_IO[0], "output": VISION_IO[1],
                   "resize": pp["resize"], "interpolation": pp["interpolation"]},
        "tokenizer": "tokenizer.json",
        "sha256": {f.name: sha256(f) for f in files},
        "family": "chinese-clip", "batch": "dynamic" if dynamic_batch else "one",
    }
    (out / "clipfind-model.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    return spec, opsets, pp


class Check(OnnxCheck):
    """make_family_models' ONNX-vs-PyTorch check (cosine > 0.99999, max |diff|) on clipfind's file names."""

    def __init__(self, out):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.text = ort.InferenceSession(str(out / "text.onnx"), opts, providers=["CPUExecutionProvider"])
        self.image = ort.InferenceSession(str(out / "vision.onnx"), opts, providers=["CPUExecutionProvider"])
        self.max_abs = {"text": 0.0, "image": 0.0}
        self.min_cos = {"text": 1.0, "image": 1.0}


def normalized(v):
    return v / v.norm(dim=-1, keepdim=True)


def report(out, spec, opsets, pp, check):
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"{out}: {size / 1e6:.1f} MB ({', '.join(f'{f.name} {f.stat().st_size / 1e6:.2f} MB' for f in sorted(out.iterdir()))})")
    for key in ("text", "vision"):
        print(f"  {key}.onnx opset {opsets[key]}: {json.dumps(onnx_io(out / f'{key}.onnx'))}")
    print(f"  preprocess: {json.dumps(pp)}")
    print(f"  ONNX vs PyTorch (unnormalised): max |diff| text {check.max_abs['text']:.2e} image {check.max_abs['image']:.2e}, "
          f"min cosine text {check.min_cos['text']:.8f} image {check.min_cos['image']:.8f}")


def check_batch(out, model, preprocess):
    """With --dynamic-batch: a batch of 3 through ONNX against PyTorch."""
    import onnxruntime as ort
    ids = cnclip.tokenize(TEXTS[:3], context_length=CONTEXT_LENGTH)
    pixels = torch.cat([load_image(preprocess, n) for n in IMAGE_FILES[:3]])
    with torch.no_grad():
        for f, feed, ref in [("text.onnx", ids, model.encode_text(ids)), ("vision.onnx", pixels, model.encode_image(pixels))]:
            sess = ort.InferenceSession(str(out / f), providers=["CPUExecutionProvider"])
            got = sess.run(None, {sess.get_inputs()[0].name: feed.numpy()})[0]
            cos = (normalized(torch.from_numpy(got)) * normalized(ref)).sum(-1).min().item()
            if not cos > 0.99999:
                raise SystemExit(f"{f}: batch of 3 differs from PyTorch (cosine {cos})")
    print("  batch of 3 matches PyTorch")


# --- the tiny model and fixtures ----------------------------------------------------------------

def make_tiny(dynamic_batch=False):
    model, preprocess, res = tiny_model()
    meta = {"name": "cnclip-tiny",
            "description": "Tiny random-weight Chinese-CLIP for tests: cn_clip's ViT-B/16-style vision tower and "
                           "RoBERTa-wwm (BERT) text tower at toy sizes, the real 21128-token vocabulary, 224/16 input, "
                           "64-d output. Knows nothing.",
            "source": f"random weights, seed {SEED}, cn_clip {cn_clip_version()} model code (models/tools/make_cn_clip.py)",
            "license": "MIT"}
    spec, opsets, pp = write_model(model, preprocess, res, OUT_TINY, meta, dynamic_batch)
    check = Check(OUT_TINY)
    fixture = {
        "family": "cnclip", "stands_in_for": "OFA-Sys Chinese-CLIP (cn_clip ViT-B-16 and the other _MODEL_INFO models)",
        "model_dir": str(OUT_TINY.relative_to(ROOT)), "context_length": CONTEXT_LENGTH,
        "pad_id": spec["text"]["pad_id"], "clean": "none", "tokenizer": tokenizer_settings(), "preprocess": pp,
        "notes": "ids: cn_clip.clip.tokenize(text, context_length=52) ([CLS] + ids[:50] + [SEP], 0-padded), which "
                 "tokenizer.json reproduces id for id. n_tokens: its length before truncation, specials included. "
                 "embedding: PyTorch encode_text / encode_image, L2-normalised; images through cn_clip.clip.image_transform(224) "
                 "after ImageOps.exif_transpose.",
        "texts": [], "images": [],
    }
    with torch.no_grad():
        for text, ids in zip(TEXTS, reference_ids(TEXTS)):
            ids_t = torch.tensor([ids])
            feats = model.encode_text(ids_t)
            check.compare("text", text, feats[0].numpy(), ids_t.numpy())
            fixture["texts"].append({"text": text, "ids": ids, "n_tokens": len(CN_TOKENIZER.tokenize(text)) + 2,
                                     "embedding": unit(normalized(feats)[0])})
        for name in IMAGE_FILES:
            pixels = load_image(preprocess, name)
            feats = model.encode_image(pixels)
            check.compare("image", name, feats[0].numpy(), pixels.numpy())
            fixture["images"].append({"file": name, "embedding": unit(normalized(feats)[0])})
    long = [t for t in fixture["texts"] if t["n_tokens"] > CONTEXT_LENGTH]
    assert len(long) >= 3, "need over-long texts"
    (FAMILIES / "cnclip.json").write_text(json.dumps(fixture, ensure_ascii=False) + "\n")

    rows = {tuple(t["ids"]): t["embedding"] for t in fixture["texts"]}
    emb = np.array(list(rows.values()))
    sims = emb @ emb.T
    imgs = np.array([i["embedding"] for i in fixture["images"]])
    isims = imgs @ imgs.T
    report(OUT_TINY, spec, opsets, pp, check)
    print(f"  {FAMILIES / 'cnclip.json'}: {len(TEXTS)} texts ({len(long)} over {CONTEXT_LENGTH} tokens), {len(IMAGE_FILES)} images; "
          f"max cosine between different texts {sims[~np.eye(len(emb), dtype=bool)].max():.4f}, "
          f"between images {isims[~np.eye(len(imgs), dtype=bool)].max():.4f}")
    if dynamic_batch:
        check_batch(OUT_TINY, model, preprocess)


# --- real weights -------------------------------------------------------------------------------

def convert(name, out, checkpoint=None, download_root=None, use_modelscope=False, dynamic_batch=False, meta=None):
    model, preprocess, res = official_model(name, checkpoint, download_root, use_modelscope)
    repo, filename = _MODELS[name]
    meta = meta or {
        "name": repo,
        "description": f"Chinese-CLIP {name} ({_MODEL_INFO[name]['struct']}), OFA-Sys: Chinese image-text retrieval, "
                       f"{res}px input.",
        "source": f"https://huggingface.co/OFA-Sys/{repo} ({Path(checkpoint).name if checkpoint else filename}), "
                  f"converted with cn_clip {cn_clip_version()} by models/tools/make_cn_clip.py",
        "license": "MIT"}
    spec, opsets, pp = write_model(model, preprocess, res, out, meta, dynamic_batch)
    check = Check(out)
    with torch.no_grad():
        for text in ["蓝色的圆", "iPhone 15 Pro 拍的照片", LONG_ZH + LONG_EN]:
            ids = cnclip.tokenize([text], context_length=CONTEXT_LENGTH)
            check.compare("text", text, model.encode_text(ids)[0].numpy(), ids.numpy())
        for image in IMAGE_FILES[:2]:
            pixels = load_image(preprocess, image)
            check.compare("image", image, model.encode_image(pixels)[0].numpy(), pixels.numpy())
    report(out, spec, opsets, pp, check)
    if dynamic_batch:
        check_batch(out, model, preprocess)


def random_full(name, out, dynamic_batch=False):
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        ckpt = Path(tmp) / f"random-{_MODELS[name][1]}"
        random_checkpoint(name, ckpt)
        meta = {"name": out.name,
                "description": f"Chinese-CLIP {name} architecture ({_MODEL_INFO[name]['struct']}) with random weights, "
                               "for timing only. Knows nothing.",
                "source": f"random weights, seed {SEED}, converted through the --checkpoint path of models/tools/make_cn_clip.py "
                          f"(cn_clip {cn_clip_version()})",
                "license": "MIT"}
        convert(name, out, checkpoint=ckpt, dynamic_batch=dynamic_batch, meta=meta)


def cn_clip_version():
    from importlib.metadata import version
    return version("cn_clip")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--convert", metavar="NAME", choices=list(_MODEL_INFO), help=f"official weights: {', '.join(_MODEL_INFO)}")
    mode.add_argument("--random-full", metavar="NAME", choices=list(_MODEL_INFO), help="random weights of NAME's architecture")
    mode.add_argument("--tokenizer", metavar="PATH", type=Path, help="write only tokenizer.json to PATH")
    mode.add_argument("--sweep", action="store_true", help="check the tokenizer on every code point (slow)")
    ap.add_argument("out", nargs="?", type=Path, help="output folder for --convert / --random-full")
    ap.add_argument("--checkpoint", type=Path, help="with --convert: an already downloaded cn_clip .pt file")
    ap.add_argument("--download-root", help="with --convert: where load_from_name downloads to (default ~/.cache/clip)")
    ap.add_argument("--modelscope", action="store_true", help="with --convert: download from ModelScope instead")
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="export with a dynamic batch axis (the official exporter's are fixed at 1)")
    a = ap.parse_args()
    if (a.convert or a.random_full) and a.out is None:
        ap.error("--convert and --random-full need OUT_DIR")
    if a.checkpoint and not a.convert:
        ap.error("--checkpoint goes with --convert NAME (the checkpoint's architecture)")
    print(f"cn_clip {cn_clip_version()} ({Path(cn_clip.__file__).parent}), torch {torch.__version__}, "
          f"unicodedata {unicodedata.unidata_version}")
    torch.backends.mha.set_fastpath_enabled(False)
    if a.tokenizer:
        write_tokenizer(a.tokenizer)
    elif a.sweep:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tokenizer.json"
            build_tokenizer().save(str(path))
            sweep(path)
    elif a.convert:
        convert(a.convert, a.out, a.checkpoint, a.download_root, a.modelscope, a.dynamic_batch)
    elif a.random_full:
        random_full(a.random_full, a.out, a.dynamic_batch)
    else:
        FAMILIES.mkdir(parents=True, exist_ok=True)
        make_tiny(a.dynamic_batch)


if __name__ == "__main__":
    main()
