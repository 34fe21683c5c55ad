"""Input for llama.cpp's convert_hf_to_gguf.py from the benchmark checkpoints, and the converter run on it.

    python3 bench/peer_llamacpp_convert.py prepare CKPT OUT
    python3 bench/peer_llamacpp_convert.py convert LLAMA_SRC [convert_hf_to_gguf.py arguments...]
    python3 bench/peer_llamacpp_convert.py textlm VISION_CKPT OUT
    python3 bench/peer_llamacpp_convert.py image SIDE FILE

prepare: the benchmark checkpoints (bench/peer_lm.py build, bench_vision write) have random weights and no
tokenizer; the converter needs one (it writes the vocabulary into the GGUF). This writes OUT/: symlinks to
CKPT's config.json and model*.safetensors (nothing is copied: OUT is a converted-input directory beside the
checkpoint, which stays as it is; bench_vision's check.safetensors is left out), a byte-level BPE
tokenizer.json + tokenizer_config.json (chatml template) for the config's vocab_size (text_config.vocab_size),
and, when the config has a vision_config, a Qwen3-VL-style preprocessor_config.json (mean = std = 0.5), which
--mmproj reads.

The vocabulary is constructed, not trained, so it is the same everywhere: the 256 byte-level symbols, then
the pairs, then triples over [A-Za-z0-9Ġ], up to vocab_size - 7 ordinary tokens, then 7 special tokens, at
the ids bench/peer_lm.py uses for those it names: <|im_start|> V-7, <|vision_start|> V-6, <|vision_end|> V-5,
<|image_pad|> V-4, <|video_pad|> V-3, <|im_end|> (eos) V-2, <|endoftext|> (pad) V-1. Pre-tokenizer: Qwen2's
split regex + byte level. The LM benchmark never tokenises text (llama-bench feeds token ids), so the
vocabulary only has to be valid, not good.

convert: runs LLAMA_SRC/convert_hf_to_gguf.py (with LLAMA_SRC/gguf-py) with the given arguments, with one
change made from outside (the vendored source is not edited): the converter names the BPE pre-tokenizer by
hashing the tokens of a test string and knows only published tokenizers' hashes, so this vocabulary's hash is
unknown to it; get_vocab_base_pre is replaced by one that answers "qwen2", the pre-tokenizer whose split
regex tokenizer.json uses.

textlm: llama-mtmd-cli, which times llama.cpp's vision encoder, needs a text model whose hidden size is the
tower's out_hidden_size, and feeds the image tokens through it after encoding. bench_vision's checkpoint has
none (only model.visual.*), so this writes OUT/: a random Qwen3_5ForCausalLM from VISION_CKPT's own small
text_config (hidden 5120 as the tower's output, 4 layers, MLP 128, vocab 2048; linear-attention value heads
of the key heads' size, which llama.cpp requires), so that the text model's part of each run is small next
to the encoder, plus the tokenizer.

image: a SIDE x SIDE RGB binary PPM (llama.cpp's mtmd reads images with stb_image, which reads PPM): a smooth
deterministic pattern. Its content does not change the encoder's work.
"""
import json
import os
import sys


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (the ByteLevel alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


SPECIALS = ["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|im_end|>",
            "<|endoftext|>"]
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def make_tokenizer(vocab_size):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers import AddedToken

    specials = SPECIALS
    n_normal = vocab_size - len(specials)
    alphabet = sorted(bytes_to_unicode().values(), key=lambda c: ord(c))
    assert n_normal > len(alphabet), vocab_size
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = []
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)] + \
            [chr(c) for c in range(ord("0"), ord("9") + 1)] + ["Ġ"]
    pairs = [(a, b) for a in chars for b in chars]
    triples = [(a, b + c) for (b, c) in pairs for a in chars]
    for a, b in pairs + triples:
        if len(vocab) == n_normal:
            break
        vocab[a + b] = len(vocab)
        merges.append((a, b))
    assert len(vocab) == n_normal
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    assert tok.get_vocab_size() == vocab_size and tok.token_to_id("<|endoftext|>") == vocab_size - 1
    return tok, specials


def write_tokenizer(out, tok, vocab_size):
    specials = SPECIALS
    tok.save(os.path.join(out, "tokenizer.json"))
    chatml = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
              "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 262144,
                   "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "unk_token": None, "chat_template": chatml,
                   "added_tokens_decoder": {str(vocab_size - len(specials) + i): {
                       "content": s, "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                       "single_word": False} for i, s in enumerate(specials)}}, f, indent=1)


def textlm(vision_ckpt, out):
    import torch
    from transformers import Qwen3_5ForCausalLM, Qwen3_5TextConfig

    if os.path.exists(os.path.join(out, "config.json")):
        print(f"{out}: exists")
        return
    with open(os.path.join(vision_ckpt, "config.json")) as f:
        cfg = json.load(f)
    text = dict(cfg["text_config"])
    text.pop("model_type", None)
    # llama.cpp's qwen35 takes the linear-attention value head size to be the key head size (as in the real
    # models: 128 and 128); this small config has 16 and 24, so use 16 for both
    text["linear_value_head_dim"] = text["linear_key_head_dim"]
    text.update(eos_token_id=text["vocab_size"] - 2, pad_token_id=text["vocab_size"] - 1, tie_word_embeddings=False)
    torch.manual_seed(20250512)
    model = Qwen3_5ForCausalLM(Qwen3_5TextConfig(**text)).eval().float()
    model.save_pretrained(out)
    write_tokenizer(out, make_tokenizer(text["vocab_size"])[0], text["vocab_size"])
    print(f"wrote {out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")


def image(side, path):
    row = lambda y: bytes(v for x in range(side) for v in ((x * 255) // side, (y * 255) // side, ((x + y) * 127) // side))
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (side, side) + b"".join(row(y) for y in range(side)))


def convert(src, args):
    import runpy

    sys.path.insert(0, src)
    sys.path.insert(1, os.path.join(src, "gguf-py"))
    import conversion.base

    conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
    sys.argv = [os.path.join(src, "convert_hf_to_gguf.py")] + args
    runpy.run_path(sys.argv[0], run_name="__main__")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "convert":
        return convert(os.path.abspath(sys.argv[2]), sys.argv[3:])
    if len(sys.argv) == 4 and sys.argv[1] == "textlm":
        return textlm(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
    if len(sys.argv) == 4 and sys.argv[1] == "image":
        return image(int(sys.argv[2]), sys.argv[3])
    if len(sys.argv) != 4 or sys.argv[1] != "prepare":
        sys.exit(__doc__)
    ckpt, out = (os.path.abspath(a) for a in sys.argv[2:])
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    vocab_size = cfg.get("text_config", cfg).get("vocab_size", 8192)
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(ckpt)):
        # model*.safetensors only: bench_vision's check.safetensors (its test input) is not a weight file
        if name == "config.json" or (name.startswith("model") and (name.endswith(".safetensors") or
                                                                   name.endswith(".safetensors.index.json"))):
            dst = os.path.join(out, name)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(os.path.join(ckpt, name), dst)
    write_tokenizer(out, make_tokenizer(vocab_size)[0], vocab_size)
    if "vision_config" in cfg:
        v = cfg["vision_config"]
        # Qwen3-VL / Qwen3.5's image processor settings (--mmproj reads image_mean / image_std from it)
        with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
            json.dump({"image_processor_type": "Qwen2VLImageProcessorFast", "image_mean": [0.5, 0.5, 0.5],
                       "image_std": [0.5, 0.5, 0.5], "patch_size": v.get("patch_size", 16),
                       "temporal_patch_size": v.get("temporal_patch_size", 2), "merge_size": v.get("spatial_merge_size", 2),
                       "size": {"shortest_edge": 65536, "longest_edge": 16777216}}, f, indent=1)
    print(f"{out}: tokenizer.json ({vocab_size} tokens) + links to {ckpt}")


if __name__ == "__main__":
    main()
