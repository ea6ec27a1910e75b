"""Make tiny random-weight CLIP models of three model families in Immich's layout, plus fixtures.

Immich publishes open_clip models on the Hugging Face Hub as folders holding config.json (the
open_clip model config), textual/model.onnx, textual/tokenizer.json, textual/tokenizer_config.json,
visual/model.onnx and visual/preprocess_cfg.json. This script builds seeded random stand-ins of
three families in exactly that layout, exported the way Immich exports (encode_*(normalize=True),
batch fixed at 1, sequence fixed at the context length, opset 17, input int32 `text` / float32
`image`, output `embedding`), checks every ONNX graph against PyTorch with onnxruntime, and writes
tests/fixtures/families/<family>/ and tests/fixtures/families/<family>.json with open_clip's token
ids and the PyTorch embeddings of a list of hard texts and the test images.

    laion    ViT-B-32 (CLIP BPE, SimpleTokenizer)   for immich-app/ViT-B-32__laion2b-s34b-b79k
    siglip2  ViT-B-32-SigLIP2-256 (Gemma-style SPM) for immich-app/ViT-B-32-SigLIP2-256__webli
    xlmr     xlm-roberta-base-ViT-B-32 (XLM-R SPM)  for immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k

The Hub is not needed: the CLIP vocabulary ships in the open_clip wheel; the SigLIP 2 and XLM-R
tokenizers are small synthetic SentencePiece models trained here on a built-in caption corpus
(the real ones are 256k / 250k pieces and cannot be downloaded here).

    python make_family_models.py                  # tiny models + fixtures (seconds)
    python make_family_models.py --only siglip2   # one family
    python make_family_models.py --full           # full-size random models in models/bench-*/ (timing only)
"""

import argparse
import gzip
import json
import random
import shutil
import string
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import open_clip
import sentencepiece as spm
import torch
from open_clip.tokenizer import bytes_to_unicode, default_bpe
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from PIL import Image, ImageOps
from tokenizers import Tokenizer
from transformers import (AutoTokenizer, CLIPTokenizerFast, GemmaTokenizerFast, XLMRobertaConfig,
                          XLMRobertaTokenizerFast)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import TEXTS as BASE_TEXTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ROOT / "tests" / "fixtures" / "families"
IMAGES = ROOT / "tests" / "fixtures" / "images"
OPSET = 17  # what Immich exports with
SEED = 0

IMAGE_FILES = ["photo.jpg", "portrait.jpg", "wide.png", "tiny.png", "rgba.png", "gray.png", "palette.gif",
               "exif-rotated.jpg"]

LONG_MULTILINGUAL = " ".join([
    "A dog runs on the beach at sunset,", "一只狗在海滩上奔跑，", "夕暮れの浜辺を走る犬、", "해질녘 해변을 달리는 개,",
    "собака бежит по пляжу на закате,", "كلب يركض على الشاطئ عند الغروب،", "सूर्यास्त के समय समुद्र तट पर दौड़ता कुत्ता,",
    "ένας σκύλος τρέχει στην παραλία το ηλιοβασίλεμα,", "สุนัขวิ่งบนชายหาดตอนพระอาทิตย์ตก",
] * 2)
HARD_TEXTS = [
    "Hello, World! It's 3:45 p.m. \u2014 (really) [sure] {ok} #tag @user",
    "snake_case_words and-dashes/slashes",
    "under_score_text",
    "MiXeD CaSe and ALL CAPS",
    "你好，世界！",
    "一只狗坐在长椅上",
    "海边的日落",
    "蓝色的圆",
    "東京タワーの夜景",
    "바닷가의 일몰",
    "Собака сидит на скамейке",
    "قطة على الأريكة",
    "समुद्र तट पर सूर्यास्त",
    "Η γάτα στον καναπέ",
    "แมวบนโซฟา",
    "café déjà vu naïve",
    "tabs\tand\nnewlines",
    "   ",
    "a" * 500,
    LONG_MULTILINGUAL,
    "ＦＵＬＬＷＩＤＴＨ ＬＥＴＴＥＲＳ",
    "emoji 🐶🎉 and ™ © ®",
    "&amp; &lt;html&gt; entities",
    "quotes “curly” ‘single’",
    "digits 1234567890 and 3.14159",
]
TEXTS = list(dict.fromkeys(BASE_TEXTS + HARD_TEXTS))  # "東京タワーの夜景" is in both

TIMM_TINY_SIGLIP = "vit_tiny_patch32_siglip_256_clipfind"


# --- synthetic tokenizer training data ------------------------------------------------------

SUBJECTS = """a dog|the cat|two children|an old man|a young woman|a red car|a small boat|my friend|a bird|the horse
|a brown bear|three sheep|a little girl|a boy|the family|a group of people|a white swan|a black cat|an elephant
|a tiger|a cyclist|a fisherman|the chef|a musician|a couple|the baby|a puppy|a kitten|an orange truck|a train
|a yellow taxi|a green bus|the farmer|a dancer|two friends|a teacher|the students|a monkey|a fox|a deer""".split("|")
VERBS = """sitting on|running across|standing near|sleeping under|looking at|walking along|jumping over|playing with
|resting beside|waiting at|swimming in|climbing up|parked next to|flying above|eating near|riding through
|painting|reading in|cooking in|dancing on|hiding behind|crossing|watching|photographing""".split("|")
PLACES = """a bench|the beach|a wooden table|the green field|a mountain lake|the city street|a blue sofa|the snow
|a sunset sky|a kitchen|the old bridge|a quiet library|the river bank|a busy market|the forest path|a small garden
|the harbour|a frozen pond|the train station|a sandy desert|the rooftop|a stone wall|the playground|a flower shop
|the museum|a tall tower|the parking lot|a country road|the waterfall|a birthday party|the living room|a tent""".split("|")
EXTRAS = """at night|in the rain|on a sunny day|in winter|at sunrise|in autumn|under the stars|during a storm
|in black and white|from above|in the fog|with a smile|near the sea|in spring|at noon|in summer""".split("|")
NUMBERS = ["1", "2", "3", "10", "25", "42", "100", "2024", "3.14", "12:30", "7pm", "1999"]
MULTILINGUAL = """一只猫在沙发上睡觉|城市的夜景很美|孩子们在公园里玩耍|桌子上有一杯咖啡|雪山下的湖泊|红色的汽车停在街上
|老人在河边钓鱼|天空中的白云|花园里的花|火车站的人群|小狗在草地上奔跑|我的朋友在厨房做饭
|東京の桜が咲いている|海の近くの家|猫がソファで寝ている|山の上の湖|夜の街の灯り|子供たちが公園で遊んでいる
|駅の前のタクシー|雪の中の赤い車|テーブルの上のコーヒー|川で泳ぐ魚
|고양이가 소파에서 자고 있다|산 위의 호수|도시의 야경|아이들이 공원에서 놀고 있다|해변의 집|눈 속의 빨간 자동차
|부엌에서 요리하는 친구|하늘의 흰 구름
|Кошка спит на диване|Город ночью|Дети играют в парке|Красная машина на улице|Озеро в горах|Собака бежит по снегу
|Старик ловит рыбу у реки|Белые облака в небе
|الكلب يجري على الشاطئ|غروب الشمس فوق البحر|قطة تنام على السرير|الأطفال يلعبون في الحديقة|سيارة حمراء في الشارع
|بحيرة في الجبال|المدينة في الليل
|बिल्ली सोफे पर सो रही है|पहाड़ पर झील|बच्चे पार्क में खेल रहे हैं|शहर की रात|लाल गाड़ी सड़क पर|नदी के किनारे बूढ़ा आदमी
|Ο σκύλος τρέχει στην παραλία|Η πόλη τη νύχτα|Τα παιδιά παίζουν στο πάρκο|Μια λίμνη στα βουνά|Ένα κόκκινο αυτοκίνητο
|หมานอนอยู่บนเตียง|เมืองตอนกลางคืน|เด็กๆเล่นในสวน|ทะเลสาบบนภูเขา|รถสีแดงบนถนน
|Un chien sur la plage|Le café au coin de la rue|Une femme lit un livre|Ein Hund läuft im Park|Das Haus am See
|Un perro en la playa|La ciudad de noche|Uma menina no jardim|Il gatto dorme sul divano""".split("|")


def caption_corpus():
    """Deterministic multilingual caption corpus for training the synthetic SentencePiece models."""
    rng = random.Random(SEED)
    lines = []
    for _ in range(6000):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}".strip()
        if rng.random() < 0.4:
            s += " " + rng.choice(EXTRAS).strip()
        if rng.random() < 0.15:
            s = f"{rng.choice(NUMBERS)} {s}"
        if rng.random() < 0.3:
            s = s[0].upper() + s[1:]
        lines.append(" ".join(s.split()))
    # Plus word salad from the CLIP vocabulary's whole English words, for a realistic spread of
    # pieces (the captions alone repeat too few words for a 2000-piece unigram model).
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    words = sorted({w[:-4] for w in ("".join(m.split()) for m in merges)
                    if w.endswith("</w>") and w[:-4].isascii() and w[:-4].isalpha() and len(w) >= 7})
    words = rng.sample(words, 4000)
    lines += [" ".join(rng.sample(words, 8)) for _ in range(3000)]
    lines += [t.strip() for t in MULTILINGUAL] * 20
    return lines


def train_sentencepiece(path, **kwargs):
    """Train a SentencePiece model on the caption corpus (single thread: reruns give the same model)."""
    corpus = path.with_suffix(".txt")
    corpus.write_text("\n".join(caption_corpus()) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(path.with_suffix("")), num_threads=1, minloglevel=2,
        input_sentence_size=0, shuffle_input_sentence=False, **kwargs)
    return path.with_suffix(".model")


# --- tokenizers -------------------------------------------------------------------------------

def clip_tokenizer(work):
    """Hugging Face CLIPTokenizerFast from the real CLIP BPE file in the open_clip wheel."""
    src = work / "clip-src"
    src.mkdir()
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (src / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (src / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    tok = CLIPTokenizerFast.from_pretrained(src, model_max_length=77)
    out = work / "clip-hf"
    tok.save_pretrained(out)
    return out


def gemma_tokenizer(work):
    """Gemma-style tokenizer: SentencePiece BPE with byte fallback and Gemma's special ids
    (pad 0, eos 1, bos 2, unk 3, mask 4), no dummy prefix, digits split; SigLIP 2 adds EOS only."""
    src = work / "gemma-src"
    src.mkdir()
    model = train_sentencepiece(
        src / "tokenizer.model", model_type="bpe", vocab_size=2000, hard_vocab_limit=False, byte_fallback=True,
        split_digits=True, add_dummy_prefix=False, remove_extra_whitespaces=False,
        normalization_rule_name="identity", allow_whitespace_only_pieces=True, character_coverage=0.9995,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", user_defined_symbols=["<mask>"])
    # What open_clip's SigLipTokenizer('gemma') builds, which the timm/ViT-*-SigLIP2 tokenizers came from.
    tok = GemmaTokenizerFast.from_pretrained(
        src, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
        add_bos_token=False, add_eos_token=True, padding_side="right")
    check_against_sentencepiece(tok, model, lambda ids: ids + [tok.eos_token_id])
    out = work / "gemma-hf"
    tok.save_pretrained(out)
    return out


def xlmr_tokenizer(work):
    """XLM-R-style tokenizer: SentencePiece unigram (nmt_nfkc), fairseq ids <s> 0, <pad> 1, </s> 2,
    <unk> 3, pieces shifted by one, <mask> last; the text gets <s> ... </s>."""
    src = work / "xlmr-src"
    src.mkdir()
    model = train_sentencepiece(
        src / "sentencepiece.bpe.model", model_type="unigram", vocab_size=2000, hard_vocab_limit=False,
        character_coverage=0.9995)
    tok = XLMRobertaTokenizerFast.from_pretrained(src)
    fairseq = {0: 3, 1: 0, 2: 2}  # spm <unk>, <s>, </s> -> fairseq ids; other pieces move up by one

    def expected(ids):
        return [0] + [fairseq.get(i, i + 1) for i in ids] + [2]
    check_against_sentencepiece(tok, model, expected)
    out = work / "xlmr-hf"
    tok.save_pretrained(out)
    return out


def check_against_sentencepiece(tok, model_file, expected):
    """The converted tokenizer must give SentencePiece's own ids (plus the special tokens)."""
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    for text in TEXTS:
        want, got = expected(sp.encode(text)), tok(text).input_ids
        if got != want:
            raise SystemExit(f"converted tokenizer differs from sentencepiece on {text!r}:\n  {want}\n  {got}")


def publish_tokenizer(hf_dir, textual):
    """As Immich does: AutoTokenizer.from_pretrained(...).save_pretrained(textual/), keeping the two
    files Immich ships. Local paths the save records are dropped (the Hub names have none)."""
    AutoTokenizer.from_pretrained(hf_dir).save_pretrained(textual)
    for f in textual.iterdir():
        if f.name not in ("tokenizer.json", "tokenizer_config.json"):
            f.unlink()
    cfg_path = textual / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    for key in ("vocab_file", "merges_file", "name_or_path"):
        cfg.pop(key, None)
    assert "pad_token" in cfg, cfg
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


# --- model configs ----------------------------------------------------------------------------

def register_tiny_siglip_vit():
    """timm entrypoint for a 2-layer, 64-wide vit_base_patch32_siglip_256 (same construction: no class
    token, MAP pooling, tanh GELU) so open_clip's TimmModel can build it by name."""
    import timm.models
    from timm.models.vision_transformer import _create_vision_transformer

    def entry(pretrained=False, **kwargs):
        args = dict(patch_size=32, embed_dim=64, depth=2, num_heads=2, class_token=False, global_pool="map",
                    act_layer="gelu_tanh", img_size=256)
        return _create_vision_transformer("vit_base_patch32_siglip_256", pretrained=False, **dict(args, **kwargs))

    entry.__name__ = TIMM_TINY_SIGLIP
    entry.__module__ = __name__
    if TIMM_TINY_SIGLIP not in timm.list_models():
        timm.models.register_model(entry)


def family_specs(full):
    """Per family: open_clip config used (hf names may be local dirs, filled in later), the Hub names to
    publish in config.json, the pretrained tag the preprocessing comes from, and where to write."""
    if full:
        siglip2 = [
            dict(key="siglip2-b32", base="ViT-B-32-SigLIP2-256", tag="webli", out=ROOT / "models" / "bench-vit-b32-siglip2-256",
                 stands_in_for="immich-app/ViT-B-32-SigLIP2-256__webli", tokenizer="gemma",
                 hub_tokenizer="timm/ViT-B-32-SigLIP2-256", cfg=open_clip.get_model_config("ViT-B-32-SigLIP2-256")),
            dict(key="siglip2-b16", base="ViT-B-16-SigLIP2", tag="webli", out=ROOT / "models" / "bench-vit-b16-siglip2",
                 stands_in_for="immich-app/ViT-B-16-SigLIP2__webli", tokenizer="gemma",
                 hub_tokenizer="timm/ViT-B-16-SigLIP2", cfg=open_clip.get_model_config("ViT-B-16-SigLIP2")),
        ]
        xlmr = dict(key="xlmr", base="xlm-roberta-base-ViT-B-32", tag="laion5b_s13b_b90k", out=ROOT / "models" / "bench-xlmr-b32",
                    stands_in_for="immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", tokenizer="xlmr",
                    hub_tokenizer="xlm-roberta-base", cfg=open_clip.get_model_config("xlm-roberta-base-ViT-B-32"),
                    hf_text=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                                 vocab_size=250002, max_position_embeddings=514))
        return {s["key"]: s for s in siglip2 + [xlmr]}

    laion = dict(
        key="laion", base="ViT-B-32", tag="laion2b_s34b_b79k", out=FAMILIES / "laion",
        stands_in_for="immich-app/ViT-B-32__laion2b-s34b-b79k", tokenizer="clip",
        cfg={"embed_dim": 512,
             "vision_cfg": {"image_size": 224, "layers": 2, "width": 16, "head_width": 8, "patch_size": 32},
             # 49408 x 8 token embeddings; tokenizer.json alone is 3.6 MB.
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 2}})
    siglip2 = dict(
        key="siglip2", base="ViT-B-32-SigLIP2-256", tag="webli", out=FAMILIES / "siglip2",
        stands_in_for="immich-app/ViT-B-32-SigLIP2-256__webli", also_stands_in_for="immich-app/ViT-B-16-SigLIP2__webli",
        tokenizer="gemma", hub_tokenizer="timm/ViT-B-32-SigLIP2-256",
        # embed_dim = vision width: like the real model, the timm tower has no projection ("timm_proj": "none").
        cfg={"embed_dim": 64, "init_logit_bias": -10, "custom_text": True,
             "vision_cfg": {"image_size": 256, "timm_model_name": TIMM_TINY_SIGLIP, "timm_model_pretrained": False,
                            "timm_pool": "map", "timm_proj": "none"},
             "text_cfg": {"context_length": 64, "vocab_size": None, "hf_tokenizer_name": None,
                          "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 64, "heads": 2, "layers": 2,
                          "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                          "norm_kwargs": {"eps": 1e-6}, "act_kwargs": {"approximate": "tanh"}}})
    xlmr = dict(
        key="xlmr", base="xlm-roberta-base-ViT-B-32", tag="laion5b_s13b_b90k", out=FAMILIES / "xlmr",
        stands_in_for="immich-app/XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", tokenizer="xlmr",
        hub_tokenizer="xlm-roberta-base",
        cfg={"embed_dim": 512,
             "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 16, "patch_size": 32},
             "text_cfg": {"hf_model_name": None, "hf_tokenizer_name": None, "hf_pooler_type": "mean_pooler"}},
        hf_text=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=77 + 2))
    return {s["key"]: s for s in (laion, siglip2, xlmr)}


def prepare(spec, work):
    """Fill in the local tokenizer / text-model dirs; return (config used, config to publish, hf tokenizer dir)."""
    cfg = json.loads(json.dumps(spec["cfg"]))
    text = cfg["text_cfg"]
    hf_dir = {"clip": clip_tokenizer, "gemma": gemma_tokenizer, "xlmr": xlmr_tokenizer}[spec["tokenizer"]](work)
    published = json.loads(json.dumps(cfg))
    if spec["tokenizer"] == "clip":
        return cfg, published, hf_dir
    n_tokens = len(AutoTokenizer.from_pretrained(hf_dir))
    text["hf_tokenizer_name"] = str(hf_dir)
    published["text_cfg"]["hf_tokenizer_name"] = spec["hub_tokenizer"]
    if spec["tokenizer"] == "gemma":
        if text["vocab_size"] is None:  # tiny: the synthetic vocabulary; full: the real 256000
            text["vocab_size"] = published["text_cfg"]["vocab_size"] = n_tokens
    else:
        hf = dict(spec["hf_text"])
        hf.setdefault("vocab_size", n_tokens)
        text_dir = work / "xlmr-text-model"
        XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                         layer_norm_eps=1e-5, **hf).save_pretrained(text_dir)
        text["hf_model_name"] = str(text_dir)
        published["text_cfg"]["hf_model_name"] = "xlm-roberta-base"
    return cfg, published, hf_dir


def build_model(spec, cfg, work):
    """Seeded random open_clip model from `cfg`, registered under a local name so that open_clip's own
    create_model / get_tokenizer code paths are the ones used."""
    name = f"clipfind-{spec['key']}"
    cfg_dir = work / "model_configs"
    cfg_dir.mkdir(exist_ok=True)
    (cfg_dir / f"{name}.json").write_text(json.dumps(cfg, indent=2))
    open_clip.add_model_config(cfg_dir)
    torch.manual_seed(SEED)
    model = open_clip.create_model(name, pretrained=None, pretrained_text=False, pretrained_image=False).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if spec["tokenizer"] == "xlmr":
        # XLM-R's word embeddings start with a tiny spread (0.02) next to its position embeddings;
        # widen them, as export_onnx.py does, so texts with different ids get clearly different
        # random embeddings (median cosine between the fixture texts ~0.9 -> ~0.3). Not done for the
        # open_clip text towers: they pool one position, which a wide embedding of its own token
        # (EOT / last pad) then dominates, making texts more alike, not less.
        model.text.transformer.embeddings.word_embeddings.weight.normal_(0, 0.5)
    # The preprocessing of the real pretrained weights (random models carry open_clip's defaults).
    pp = merge_preprocess_dict(asdict(PreprocessCfg()), open_clip.get_pretrained_cfg(spec["base"], spec["tag"]))
    pp["size"] = model.visual.image_size
    open_clip.model.set_model_preprocess_cfg(model, pp)
    return model, open_clip.get_tokenizer(name)


# --- export -----------------------------------------------------------------------------------

def export(model, cfg, published, hf_dir, out):
    """Immich's export: config.json, visual/{model.onnx,preprocess_cfg.json}, textual/{model.onnx,
    tokenizer.json,tokenizer_config.json}."""
    if out.exists():
        shutil.rmtree(out)
    visual, textual = out / "visual", out / "textual"
    visual.mkdir(parents=True)
    textual.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(published, indent=2, ensure_ascii=False) + "\n")
    pp = open_clip.get_model_preprocess_cfg(model)
    (visual / "preprocess_cfg.json").write_text(json.dumps(pp, indent=2) + "\n")
    publish_tokenizer(hf_dir, textual)

    size = cfg["vision_cfg"]["image_size"]
    ctx = cfg["text_cfg"].get("context_length", 77)
    with torch.no_grad():
        model.forward = lambda image: model.encode_image(image, normalize=True)
        torch.onnx.export(model, (torch.randn(1, 3, size, size),), str(visual / "model.onnx"),
                          input_names=["image"], output_names=["embedding"], opset_version=OPSET, dynamo=False)
        model.forward = lambda text: model.encode_text(text, normalize=True)
        torch.onnx.export(model, (torch.ones(1, ctx, dtype=torch.int32),), str(textual / "model.onnx"),
                          input_names=["text"], output_names=["embedding"], opset_version=OPSET, dynamo=False)
    del model.forward


def onnx_io(path):
    m = onnx.load(str(path), load_external_data=False)

    def desc(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]}
    return {"inputs": [desc(v) for v in m.graph.input], "outputs": [desc(v) for v in m.graph.output],
            "opset": m.opset_import[0].version}


class OnnxCheck:
    """Runs the exported graphs and fails loudly if they disagree with PyTorch."""

    def __init__(self, out):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.text = ort.InferenceSession(str(out / "textual" / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.image = ort.InferenceSession(str(out / "visual" / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.max_abs = {"text": 0.0, "image": 0.0}
        self.min_cos = {"text": 1.0, "image": 1.0}

    def compare(self, kind, what, ref, feed):
        sess = self.text if kind == "text" else self.image
        got = sess.run(None, {sess.get_inputs()[0].name: feed})[0][0]
        ref = np.asarray(ref, dtype=np.float32)
        cos = float(np.dot(got, ref) / (np.linalg.norm(got) * np.linalg.norm(ref)))
        self.max_abs[kind] = max(self.max_abs[kind], float(np.abs(got - ref).max()))
        self.min_cos[kind] = min(self.min_cos[kind], cos)
        if not cos > 0.99999:
            raise SystemExit(f"ONNX differs from PyTorch on {kind} {what!r}: cosine {cos:.7f}")


def preprocess_image(pp, name):
    transform = image_transform_v2(PreprocessCfg(**pp), is_train=False)
    return transform(ImageOps.exif_transpose(Image.open(IMAGES / name))).unsqueeze(0)


# --- fixtures ---------------------------------------------------------------------------------

def clean_name(tokenizer):
    fns = {open_clip.tokenizer._clean_lower: "lower", open_clip.tokenizer._clean_whitespace: "whitespace",
           open_clip.tokenizer._clean_canonicalize: "canonicalize"}
    return fns[tokenizer.clean_fn]


def untruncated_length(tokenizer, text):
    """Token count before truncation, special tokens included."""
    if isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer):
        return len(tokenizer.encode(text)) + 2
    return len(tokenizer.tokenizer(tokenizer.clean_fn(text)).input_ids)


def immich_tokenizer(textual, ctx):
    """Immich's text path (immich_ml/models/clip/textual.py): tokenizer.json padded with the
    tokenizer_config pad token and truncated to the context length; clean_text collapses whitespace
    and, for 'canonicalize', strips string.punctuation and lower-cases (no ftfy, no html unescape)."""
    pad = json.loads((textual / "tokenizer_config.json").read_text())["pad_token"]
    tok = Tokenizer.from_file(str(textual / "tokenizer.json"))
    tok.enable_padding(length=ctx, pad_token=pad, pad_id=tok.token_to_id(pad))
    tok.enable_truncation(max_length=ctx)
    punct = str.maketrans("", "", string.punctuation)

    def encode(text, canonicalize):
        text = " ".join(text.split())
        if canonicalize:
            text = text.translate(punct).lower()
        enc = tok.encode(text)
        return enc.ids, [i for i, m in zip(enc.ids, enc.attention_mask) if m]
    return encode


def check_published_tokenizer(tokenizer, textual, ctx, pad_id):
    """textual/tokenizer.json, fed open_clip's cleaned text, must give open_clip's ids: the shipped
    file is the same tokenizer as the reference (for laion: the same BPE as SimpleTokenizer)."""
    tok = Tokenizer.from_file(str(textual / "tokenizer.json"))
    tok.enable_truncation(max_length=ctx)
    for text in TEXTS:
        want = strip_pad(tokenizer([text])[0].tolist(), pad_id)
        got = tok.encode(tokenizer.clean_fn(text)).ids
        if got != want:
            raise SystemExit(f"{textual / 'tokenizer.json'} differs from open_clip on {text!r}:\n  {want}\n  {got}")


def special_tokens(tokenizer, textual):
    cfg = json.loads((textual / "tokenizer_config.json").read_text())
    tj = json.loads((textual / "tokenizer.json").read_text())
    pp = tj["post_processor"]
    info = {"tokenizer_json_post_processor": pp["type"]}
    if pp["type"] == "TemplateProcessing":
        info["post_processor_single"] = [
            next(iter(p.values()))["id"] if "SpecialToken" in p else "$A" for p in pp["single"]]
    elif pp["type"] == "RobertaProcessing":
        info["post_processor_single"] = [pp["cls"][0], "$A", pp["sep"][0]]
    hf = Tokenizer.from_file(str(textual / "tokenizer.json"))
    info["tokenizer_config_pad_token"] = {"token": cfg["pad_token"], "id": hf.token_to_id(cfg["pad_token"])}
    if isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer):
        info.update(kind="open_clip SimpleTokenizer, real CLIP BPE vocabulary (49408)",
                    bos={"token": "<start_of_text>", "id": tokenizer.sot_token_id},
                    eos={"token": "<end_of_text>", "id": tokenizer.eot_token_id},
                    pad={"token": None, "id": 0}, vocab_size=tokenizer.vocab_size)
    else:
        t = tokenizer.tokenizer
        info.update(kind=f"open_clip HFTokenizer over {type(t).__name__} (synthetic SentencePiece)",
                    bos={"token": t.bos_token, "id": t.bos_token_id}, eos={"token": t.eos_token, "id": t.eos_token_id},
                    pad={"token": t.pad_token, "id": t.pad_token_id}, unk={"token": t.unk_token, "id": t.unk_token_id},
                    vocab_size=len(t))
    return info


def strip_pad(ids, pad):
    while ids and ids[-1] == pad:
        ids = ids[:-1]
    return ids


def unit(v):
    return [round(float(x), 7) for x in v]


def make_family(spec, work):
    cfg, published, hf_dir = prepare(spec, work)
    model, tokenizer = build_model(spec, cfg, work)
    out = spec["out"]
    export(model, cfg, published, hf_dir, out)
    check = OnnxCheck(out)
    ctx = cfg["text_cfg"].get("context_length", 77)
    textual = out / "textual"
    tok_info = special_tokens(tokenizer, textual)
    clean = clean_name(tokenizer)
    check_published_tokenizer(tokenizer, textual, ctx, tok_info["pad"]["id"])
    immich = immich_tokenizer(textual, ctx)
    fixture = {
        "family": spec["key"], "stands_in_for": spec["stands_in_for"],
        **({"also_stands_in_for": spec["also_stands_in_for"]} if "also_stands_in_for" in spec else {}),
        "model_dir": str(out.relative_to(ROOT)), "context_length": ctx, "pad_id": tok_info["pad"]["id"],
        "clean": clean, "tokenizer": tok_info,
        "notes": "ids: open_clip's tokenizer row for this config (reference). n_tokens: its length before "
                 "truncation, specials included. immich_ids: what Immich's textual.py makes of the same text "
                 "from textual/tokenizer.json + tokenizer_config.json (for information). embedding: PyTorch "
                 "encode_text/encode_image(normalize=True); images preprocessed with open_clip.image_transform_v2 "
                 "of visual/preprocess_cfg.json after ImageOps.exif_transpose.",
        "texts": [], "images": [],
    }
    immich_diff = []
    with torch.no_grad():
        for text in TEXTS:
            ids = tokenizer([text])
            assert ids.shape == (1, ctx), ids.shape
            emb = model.encode_text(ids, normalize=True)[0]
            check.compare("text", text, emb.numpy(), ids.numpy().astype(np.int32))
            imm, imm_unpadded = immich(text, clean == "canonicalize")
            if imm_unpadded != strip_pad(ids[0].tolist(), fixture["pad_id"]):
                imm_emb = model.encode_text(torch.tensor([imm]), normalize=True)[0]
                immich_diff.append((text, float(torch.dot(imm_emb, emb))))
            fixture["texts"].append({"text": text, "ids": ids[0].tolist(), "n_tokens": untruncated_length(tokenizer, text),
                                     "immich_ids": imm, "embedding": unit(emb)})
        pp = open_clip.get_model_preprocess_cfg(model)
        for name in IMAGE_FILES:
            pixels = preprocess_image(pp, name)
            emb = model.encode_image(pixels, normalize=True)[0]
            check.compare("image", name, emb.numpy(), pixels.numpy())
            fixture["images"].append({"file": name, "embedding": unit(emb)})
    long_len = untruncated_length(tokenizer, LONG_MULTILINGUAL)
    assert long_len > ctx, f"long multilingual text has only {long_len} tokens"
    (FAMILIES / f"{spec['key']}.json").write_text(json.dumps(fixture, ensure_ascii=False) + "\n")

    # How far apart the random embeddings of texts with different ids are (tests need them apart).
    rows = {tuple(t["ids"]): t["embedding"] for t in fixture["texts"]}
    texts = np.array(list(rows.values()))
    sims = texts @ texts.T
    distinct = sims[~np.eye(len(texts), dtype=bool)].max()
    report(spec, out, check, tok_info, clean, pp)
    print(f"  texts: {len(TEXTS)}, images: {len(IMAGE_FILES)}, max cosine between different texts {distinct:.4f}")
    print(f"  Immich's tokens (padding aside) differ from open_clip's on {len(immich_diff)} texts:")
    for text, cos in immich_diff:
        print(f"    cos {cos:.6f}  {text[:60]!r}")


def report(spec, out, check, tok_info, clean, pp):
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{spec['key']}: {out.relative_to(ROOT)} ({size / 1e6:.2f} MB)")
    for part in ("textual", "visual"):
        print(f"  {part}/model.onnx {json.dumps(onnx_io(out / part / 'model.onnx'))}")
    print(f"  preprocess_cfg {json.dumps(pp)}")
    print(f"  clean {clean}; tokenizer {json.dumps(tok_info, ensure_ascii=False)}")
    print(f"  ONNX vs PyTorch: max |diff| text {check.max_abs['text']:.2e} image {check.max_abs['image']:.2e}, "
          f"min cosine text {check.min_cos['text']:.8f} image {check.min_cos['image']:.8f}")


def make_bench(spec, work):
    """Full-size random model for timing; checked against PyTorch on a few inputs only."""
    cfg, published, hf_dir = prepare(spec, work)
    model, tokenizer = build_model(spec, cfg, work)
    out = spec["out"]
    export(model, cfg, published, hf_dir, out)
    check = OnnxCheck(out)
    pp = open_clip.get_model_preprocess_cfg(model)
    with torch.no_grad():
        for text in [TEXTS[0], HARD_TEXTS[9], LONG_MULTILINGUAL]:
            ids = tokenizer([text])
            check.compare("text", text, model.encode_text(ids, normalize=True)[0].numpy(), ids.numpy().astype(np.int32))
        for name in IMAGE_FILES[:2]:
            pixels = preprocess_image(pp, name)
            check.compare("image", name, model.encode_image(pixels, normalize=True)[0].numpy(), pixels.numpy())
    report(spec, out, check, special_tokens(tokenizer, out / "textual"), clean_name(tokenizer), pp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="full-size random models in models/bench-*/ (timing only)")
    ap.add_argument("--only", help="comma-separated family keys (laion,siglip2,xlmr; with --full: siglip2-b32,siglip2-b16,xlmr)")
    a = ap.parse_args()
    torch.backends.mha.set_fastpath_enabled(False)  # as Immich: the fused MHA kernel does not export
    register_tiny_siglip_vit()
    specs = family_specs(a.full)
    keys = a.only.split(",") if a.only else list(specs)
    FAMILIES.mkdir(parents=True, exist_ok=True)
    for key in keys:
        with tempfile.TemporaryDirectory() as work:
            (make_bench if a.full else make_family)(specs[key], Path(work))


if __name__ == "__main__":
    main()
