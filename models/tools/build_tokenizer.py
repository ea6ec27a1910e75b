"""Build CLIP's tokenizer.json from the BPE vocabulary that ships in the open_clip_torch wheel.

The result has the layout of Hugging Face's CLIP tokenizer.json (so public exports and ours are
read by the same Rust code) and gives exactly open_clip's token ids; this script checks that on a
list of texts before writing.

    python build_tokenizer.py OUT/tokenizer.json
"""

import gzip
import json
import sys
from pathlib import Path

import open_clip
from open_clip.tokenizer import bytes_to_unicode, default_bpe
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

START, END = "<|startoftext|>", "<|endoftext|>"
# open_clip's word pattern, minus the special tokens (the Rust side adds those).
WORD_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

CHECK_TEXTS = [
    "a dog sitting on a bench",
    "A Photo Of TWO cats!!",
    "naïve café, crème brûlée",
    "it's 3:45pm and we're 100% sure",
    "東京タワーの夜景",
    "🐶🐱 emoji party 🎉",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "tab\tand\nnewline   spaces",
]


def vocabulary():
    """open_clip's vocabulary and merges, in open_clip's order (ids follow from it)."""
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in merges[1 : 49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += [START, END]
    return {token: i for i, token in enumerate(vocab)}, merges


def build():
    vocab, merges = vocabulary()
    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, end_of_word_suffix="</w>", unk_token=END, fuse_unk=False)
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.post_processor = processors.RobertaProcessing(
        (END, vocab[END]), (START, vocab[START]), trim_offsets=False, add_prefix_space=False
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([START, END])
    return tok


def check(tok):
    reference = open_clip.get_tokenizer("ViT-B-32")
    for text in CHECK_TEXTS:
        want = [int(i) for i in reference([text])[0] if i != 0]
        got = tok.encode(text).ids
        if got != want:
            raise SystemExit(f"tokenizer mismatch on {text!r}:\n  open_clip {want}\n  ours      {got}")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tokenizer.json")
    tok = build()
    check(tok)
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), ids equal open_clip's on {len(CHECK_TEXTS)} texts")


if __name__ == "__main__":
    main()
