#!/usr/bin/env python3
"""Build the tiny random-weight Qwen3.5/3.6 checkpoint used by the vlgraph tests.

Writes (all deterministic, fixed seeds):
  tests/data/tiny-qwen36/        f32 weights + config + tokenizer + processor files
  tests/data/tiny-qwen36-bf16/   same model cast to bfloat16, same processor files

Config = spec section 11.1 except for a small vocabulary (VOCAB_SIZE) with the 33 Qwen added tokens at the
top of the vocab, and a small image pixel budget (64x64 .. 512x512 pixels) in preprocessor_config.json.
No network access is needed: the byte-level BPE is trained locally on a procedurally written corpus.
"""
import argparse
import json
import math
import os
import random
import shutil

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED = 20240607
VOCAB_SIZE = 2048

# Qwen3.5 / 3.6 added tokens (spec section 8.2): (content, special)
ADDED_TOKENS = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False), ("<|audio_start|>", True),
    ("<|audio_end|>", True), ("<tts_pad>", True), ("<tts_text_bos>", True),
    ("<tts_text_eod>", True), ("<tts_text_bos_single>", True), ("<|audio_pad|>", True),
]
assert len(ADDED_TOKENS) == 33 and sum(s for _, s in ADDED_TOKENS) == 21

PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def token_id(content):
    first = VOCAB_SIZE - len(ADDED_TOKENS)
    return first + [c for c, _ in ADDED_TOKENS].index(content)


# ----------------------------------------------------------------------------------------------------------------
# corpus + tokenizer
# ----------------------------------------------------------------------------------------------------------------
def make_corpus():
    rng = random.Random(SEED)
    words_en = ("the quick brown fox jumps over lazy dog image picture model token vision language tensor graph "
                "describe what you see in this photo please answer question think step reason output input layer "
                "attention network weight value key query state cache decode prefill chunk sequence don't I'll "
                "we're they've she's it'd you'm hello world data science learning python function return class "
                "import from print while for if else true false none self width height pixel color red green blue "
                "yellow orange purple black white cat house tree river mountain city street car bicycle running "
                "The A An This That What Where When Why How DON'T WON'T I'M YOU'RE").split()
    code_lines = [
        "def forward(self, x):\n    return self.proj(x) + x\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
        "if __name__ == \"__main__\":\n    main()\n",
        "#include <vector>\nstd::vector<float> v(1024, 0.0f);\n",
        "x = torch.zeros((3, 224, 224), dtype=torch.float32)\n",
        "SELECT id, name FROM users WHERE age >= 18;\r\n",
        "{\"key\": [1, 2, 3], \"value\": null}\n",
        "    // TODO: fix this\n        let y = x.map(|v| v * 2);\n",
    ]
    cjk = ("我们今天学习语言模型图像视觉理解这是一张照片请描述内容猫狗房子树木城市街道汽车天气很好中文测试"
           "日本語のテキストです画像を説明してくださいひらがなカタカナ漢字한국어텍스트입니다이미지설명")
    arabic = ["مرحبا بالعالم", "هذه صورة جميلة", "نموذج اللغة", "السلام عليكم", "كتاب القراءة"]
    hindi = ["नमस्ते दुनिया", "यह एक चित्र है", "भाषा मॉडल", "हिन्दी पाठ", "कृपया वर्णन करें"]
    other = ["Ελληνικά κείμενο", "Русский текст пример", "Český jazyk", "Tiếng Việt có dấu", "café naïve résumé",
             "e\u0301 a\u0300 o\u0308", "Ünïcödé Çàfé", "ñandú"]
    emoji = ["😀", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "❤️", "🐱", "🌍", "✨", "🔥"]
    lines = []
    for _ in range(6000):
        kind = rng.random()
        if kind < 0.40:
            n = rng.randint(3, 14)
            s = " ".join(rng.choice(words_en) for _ in range(n))
            if rng.random() < 0.3:
                s += rng.choice([".", "!", "?", ",", ":", ";", "..."])
            lines.append(s)
        elif kind < 0.52:
            lines.append(rng.choice(code_lines))
        elif kind < 0.66:
            n = rng.randint(4, 20)
            lines.append("".join(rng.choice(cjk) for _ in range(n)) + rng.choice(["。", "，", "！", ""]))
        elif kind < 0.72:
            lines.append(rng.choice(arabic) + " " + rng.choice(arabic))
        elif kind < 0.78:
            lines.append(rng.choice(hindi) + " " + rng.choice(hindi))
        elif kind < 0.84:
            lines.append(rng.choice(other))
        elif kind < 0.89:
            lines.append(" ".join(rng.choice(emoji) for _ in range(rng.randint(1, 4))))
        elif kind < 0.95:
            lines.append(str(rng.randint(0, 10 ** rng.randint(1, 9))) + " " + f"{rng.random() * 100:.3f}")
        else:
            lines.append(rng.choice(["  ", "\t", "    ", "\n\n", "\r\n", "   \n", " \t "]) + rng.choice(words_en))
    return lines


def build_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                        byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    n_regular = VOCAB_SIZE - len(ADDED_TOKENS)
    trainer = trainers.BpeTrainer(vocab_size=n_regular, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(make_corpus(), trainer=trainer)
    assert tok.get_vocab_size() == n_regular, f"trained vocab {tok.get_vocab_size()} != {n_regular}"
    vocab = tok.get_vocab()
    model = json.loads(tok.to_str())["model"]
    return vocab, model["merges"]


def build_processor(out_dir):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_5.tokenization_qwen3_5 import Qwen3_5Tokenizer
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
    from tokenizers import AddedToken

    vocab, merges = build_tokenizer()
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
    # eos/pad are set after the added tokens exist, otherwise the constructor appends them out of order.
    tokenizer = Qwen3_5Tokenizer(vocab=vocab, merges=merges, unk_token=None, bos_token=None,
                                 eos_token=None, pad_token=None, model_max_length=262144,
                                 clean_up_tokenization_spaces=False, split_special_tokens=False)
    # The 33 added tokens, in order, at the top of the vocab.
    for content, special in ADDED_TOKENS:
        at = AddedToken(content, special=special, normalized=False, lstrip=False, rstrip=False, single_word=False)
        tokenizer.add_tokens([at], special_tokens=special)
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    assert len(tokenizer) == VOCAB_SIZE, len(tokenizer)
    for content, _ in ADDED_TOKENS:
        assert tokenizer.convert_tokens_to_ids(content) == token_id(content), content
    assert tokenizer.eos_token_id == token_id("<|im_end|>")
    assert tokenizer.pad_token_id == token_id("<|endoftext|>")

    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": 64 * 64, "longest_edge": 512 * 512},
        patch_size=16, temporal_patch_size=2, merge_size=2,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
        resample=3, rescale_factor=1 / 255, do_resize=True, do_rescale=True, do_normalize=True,
        do_convert_rgb=True,
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": 64 * 64, "longest_edge": 512 * 512 * 4},
        patch_size=16, temporal_patch_size=2, merge_size=2,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    with open(CHAT_TEMPLATE_PATH, encoding="utf-8") as f:
        chat_template = f.read()
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=video_processor, chat_template=chat_template)
    processor.save_pretrained(out_dir)
    # Real Qwen3.5/3.6 checkpoints ship the legacy flat preprocessor_config.json + video_preprocessor_config.json
    # (transformers 5.x writes a nested processor_config.json instead); write the legacy layout, which
    # transformers still loads, so the C++ loader sees the same file names as on the hub.
    os.remove(os.path.join(out_dir, "processor_config.json"))
    pre = {
        "size": {"longest_edge": 512 * 512, "shortest_edge": 64 * 64},
        "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "do_resize": True, "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "do_convert_rgb": True,
        "processor_class": "Qwen3VLProcessor", "image_processor_type": "Qwen2VLImageProcessorFast",
    }
    vpre = {
        "size": {"longest_edge": 512 * 512 * 4, "shortest_edge": 64 * 64},
        "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
        "processor_class": "Qwen3VLProcessor", "video_processor_type": "Qwen3VLVideoProcessor",
    }
    for fn, d in (("preprocessor_config.json", pre), ("video_preprocessor_config.json", vpre)):
        with open(os.path.join(out_dir, fn), "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)
            f.write("\n")
    # make sure chat_template.jinja is a byte-exact copy of the reference template
    with open(os.path.join(out_dir, "chat_template.jinja"), "w", encoding="utf-8", newline="") as f:
        f.write(chat_template)
    return processor


CHAT_TEMPLATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen36-chat_template.jinja")


# ----------------------------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------------------------
def make_config():
    from transformers import Qwen3_5Config

    text_config = dict(
        vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        num_attention_heads=4, num_key_value_heads=2, head_dim=64,
        rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
                         "mrope_section": [3, 3, 2], "mrope_interleaved": True},
        linear_num_key_heads=2, linear_num_value_heads=6, linear_key_head_dim=16, linear_value_head_dim=24,
        linear_conv_kernel_dim=4, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=False,
        max_position_embeddings=4096, attention_bias=False, attention_dropout=0.0,
        eos_token_id=token_id("<|endoftext|>"), dtype="float32",
    )
    vision_config = dict(
        depth=2, hidden_size=64, num_heads=4, intermediate_size=96, hidden_act="gelu_pytorch_tanh",
        in_channels=3, patch_size=16, temporal_patch_size=2, spatial_merge_size=2,
        num_position_embeddings=64, out_hidden_size=64,
    )
    cfg = Qwen3_5Config(
        text_config=text_config, vision_config=vision_config,
        image_token_id=token_id("<|image_pad|>"), video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"), vision_end_token_id=token_id("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    # like the real config.json (top level eos = <|im_end|>, pad = <|endoftext|>)
    cfg.eos_token_id = token_id("<|im_end|>")
    cfg.pad_token_id = token_id("<|endoftext|>")
    return cfg


def randomise(model, seed):
    """Spec 11.2 step 2: every parameter gets a non-default random value (fixed seed, CPU generator)."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g, dtype=torch.float64).mul(std).add(mean).float()

    def uniform(shape, lo, hi):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo).float()

    report = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if name.endswith("linear_attn.A_log"):
                # half of the heads: A ~ U(1,16) (spec recipe, fast decay); other half A ~ U(0.005, 0.1) so that
                # state is carried across many tokens / chunks (exercises inter-chunk state + decode state).
                n = p.shape[0]
                a = torch.cat([uniform((n - n // 2,), 1.0, 16.0), uniform((n // 2,), 0.005, 0.1)])
                v, kind = torch.log(a), "log U(1,16) | log U(0.005,0.1)"
            elif name.endswith("linear_attn.dt_bias"):
                v, kind = normal(p.shape, 0.5, 1.0), "1+N(0,0.5)"
            elif name.endswith("linear_attn.norm.weight"):
                v, kind = normal(p.shape, 0.2, 1.0), "1+N(0,0.2) (gated norm, plain w)"
            elif ("layernorm" in name or name.endswith("q_norm.weight") or name.endswith("k_norm.weight")
                  or name == "model.language_model.norm.weight"):
                v, kind = normal(p.shape, 0.2), "N(0,0.2) (1+w offset)"
            elif ("visual" in name and (".norm1." in name or ".norm2." in name or "merger.norm." in name)):
                if leaf == "weight":
                    v, kind = normal(p.shape, 0.2, 1.0), "1+N(0,0.2) (LayerNorm)"
                else:
                    v, kind = normal(p.shape, 0.05), "N(0,0.05) (LayerNorm bias)"
            elif leaf == "bias":
                v, kind = normal(p.shape, 0.05), "N(0,0.05)"
            elif name.endswith("embed_tokens.weight"):
                v, kind = normal(p.shape, 0.5), "N(0,0.5)"
            elif name == "lm_head.weight":
                v, kind = normal(p.shape, 0.15), "N(0,0.15)"
            elif name.endswith("pos_embed.weight"):
                v, kind = normal(p.shape, 0.5), "N(0,0.5)"
            elif name.endswith("linear_attn.conv1d.weight"):
                v, kind = normal(p.shape, 0.3), "N(0,0.3)"
            elif p.ndim >= 2:
                fan_in = p[0].numel()
                std = 1.0 / math.sqrt(fan_in)  # keeps every projection O(1) (0.125 for fan_in 64)
                v, kind = normal(p.shape, std), f"N(0,{std:.4g})"
            else:
                raise RuntimeError(f"unhandled parameter {name}")
            p.copy_(v.to(p.dtype))
            report[name] = [list(p.shape), kind]
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data"))
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

    f32_dir = os.path.join(args.out, "tiny-qwen36")
    bf16_dir = os.path.join(args.out, "tiny-qwen36-bf16")
    for d in (f32_dir, bf16_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    build_processor(f32_dir)

    cfg = make_config()
    model = Qwen3_5ForConditionalGeneration(cfg).eval().float()
    report = randomise(model, SEED)
    assert not torch.equal(model.lm_head.weight, model.model.language_model.embed_tokens.weight)
    gen = GenerationConfig(
        eos_token_id=[token_id("<|im_end|>"), token_id("<|endoftext|>")], pad_token_id=token_id("<|endoftext|>"),
        bos_token_id=None, do_sample=True, top_k=20, top_p=0.95, temperature=1.0,
    )
    model.generation_config = gen
    model.save_pretrained(f32_dir)
    with open(os.path.join(f32_dir, "init_report.json"), "w") as f:
        json.dump(report, f, indent=1)

    model_bf16 = model.to(torch.bfloat16)
    model_bf16.save_pretrained(bf16_dir)
    for fn in os.listdir(f32_dir):
        if fn not in ("model.safetensors", "config.json", "generation_config.json"):
            shutil.copy(os.path.join(f32_dir, fn), os.path.join(bf16_dir, fn))
    print("wrote", f32_dir, bf16_dir)


if __name__ == "__main__":
    main()
