"""PyTorch peer for bench/bench_lm.cpp, and the writer of the checkpoint both sides load.

    python3 bench/peer_lm.py build DIR                                   write DIR unless DIR/config.json exists
    python3 bench/peer_lm.py bf16 DIR DIR_BF16                           DIR with every weight rounded to bf16
    python3 bench/peer_lm.py time DIR THREADS [PROMPT DECODE WARMUP REPS]

build: a Qwen3.6-27B-wide language model with 4 layers (3 Gated DeltaNet + 1 gated full attention) and an
8192-token vocabulary, random weights from HF's own initialisation (seeded: Linear / Embedding N(0, 0.02),
A_log = log U(0.01, 16), dt_bias 1, (1 + w) norms 0), f32, saved by save_pretrained in 2 GB shards
(≈ 6.4 GB; the vision tower is a tiny valid one, out_hidden_size = 5120). DIR belongs outside the repository.

time: HF Qwen3_5ForConditionalGeneration (sdpa attention, f32, torch.inference_mode, torch.set_num_threads)
on PROMPT (default 128) prompt ids — the same formula as bench_lm.cpp's, prompt_ids() — then greedy decode:
prefill = one forward over the prompt with use_cache and logits for the last position only (our
language_forward computes only that row too) plus the argmax; decode = DECODE (default 16) forwards of one
token each on the cache, each with its argmax. WARMUP (default 1) untimed runs, then the best of REPS
(default 3) for prefill and decode separately. Prints one RESULT line and the generated ids (the prefill's
token, then one per decode step), which bench/run_lm.sh compares with ours.
"""
import importlib.util
import os
import sys
import time

import torch

SEED = 20250512
VOCAB = 8192
SPECIAL = {"image_token_id": VOCAB - 4, "video_token_id": VOCAB - 3, "vision_start_token_id": VOCAB - 6,
           "vision_end_token_id": VOCAB - 5}
EOS, PAD = VOCAB - 2, VOCAB - 1


def prompt_ids(n, vocab):
    """n ids in [0, vocab - 64), below the special tokens, from splitmix64 with state 0 (bench_lm.cpp: prompt_ids)."""
    mask, s, ids = (1 << 64) - 1, 0, []
    for _ in range(n):
        s = (s + 0x9E3779B97F4A7C15) & mask
        z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        ids.append((z ^ (z >> 31)) % (vocab - 64))
    return ids


def make_config():
    from transformers import Qwen3_5Config

    text_config = dict(
        vocab_size=VOCAB, hidden_size=5120, intermediate_size=17408, num_hidden_layers=4,
        layer_types=["linear_attention", "linear_attention", "linear_attention", "full_attention"],
        num_attention_heads=24, num_key_value_heads=4, head_dim=256,
        rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
                         "mrope_section": [11, 11, 10], "mrope_interleaved": True},
        linear_num_key_heads=16, linear_num_value_heads=48, linear_key_head_dim=128, linear_value_head_dim=128,
        linear_conv_kernel_dim=4, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=False,
        max_position_embeddings=262144, attention_bias=False, attention_dropout=0.0, initializer_range=0.02,
        eos_token_id=EOS, dtype="float32",
    )
    vision_config = dict(
        depth=1, hidden_size=64, num_heads=4, intermediate_size=96, hidden_act="gelu_pytorch_tanh",
        in_channels=3, patch_size=16, temporal_patch_size=2, spatial_merge_size=2,
        num_position_embeddings=64, out_hidden_size=5120,
    )
    cfg = Qwen3_5Config(text_config=text_config, vision_config=vision_config, tie_word_embeddings=False, **SPECIAL)
    cfg.eos_token_id, cfg.pad_token_id = EOS, PAD
    return cfg


def build(ckpt):
    if os.path.exists(os.path.join(ckpt, "config.json")):
        print(f"{ckpt}: exists")
        return
    from transformers import Qwen3_5ForConditionalGeneration

    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    model = Qwen3_5ForConditionalGeneration(make_config()).eval().float()
    lm = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("model.visual."))
    # 2 GB shards: save_pretrained serialises a shard in memory, so this bounds the extra copy.
    model.save_pretrained(ckpt, max_shard_size="2GB")
    print(f"wrote {ckpt}: {lm / 1e9:.3f} B language-model parameters ({time.perf_counter() - t0:.0f} s)")


def to_bf16(src, dst):
    """The same checkpoint with every weight rounded to bf16 (torch's round-to-nearest-even), as a real bf16
    checkpoint is stored: what vlgraph reads as stored (bf16 from the mmap, f32 arithmetic) and llama.cpp
    converts to its bf16 GGUF; HF loads it into f32."""
    if os.path.exists(os.path.join(dst, "config.json")):
        print(f"{dst}: exists")
        return
    from transformers import Qwen3_5ForConditionalGeneration

    t0 = time.perf_counter()
    model = Qwen3_5ForConditionalGeneration.from_pretrained(src, dtype=torch.bfloat16).eval()
    model.save_pretrained(dst, max_shard_size="2GB")
    print(f"wrote {dst}: bf16 copy of {src} ({time.perf_counter() - t0:.0f} s)")


def gdn_kernels():
    """Which implementation HF's Gated DeltaNet calls: transformers swaps in fla / causal_conv1d kernels when
    those packages import, else keeps its own PyTorch reference functions (read from the wrappers)."""
    from transformers.models.qwen3_5 import modeling_qwen3_5 as m

    used = []
    for f in (m.torch_chunk_gated_delta_rule, m.torch_recurrent_gated_delta_rule, m.causal_conv1d_fn, m.causal_conv1d_update):
        cells = dict(zip(f.__code__.co_freevars, (c.cell_contents for c in f.__closure__ or ())))
        impl = cells.get("implementation", f)
        used.append(f"{impl.__module__}.{impl.__name__}")
    reference = all(u.startswith(m.__name__ + ".torch_") or u.startswith(m.__name__ + ".causal_conv1d") for u in used)
    fla = importlib.util.find_spec("fla") is not None
    return ("torch reference" if reference else "optimised kernels") + f" (fla installed: {fla}; {', '.join(u.split('.')[-1] for u in used)})"


def run(model, ids, decode):
    """One greedy generation: (prefill seconds, decode seconds, generated ids)."""
    t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    token = out.logits[0, -1].argmax()
    t1 = time.perf_counter()
    tokens = [token.item()]
    cache = out.past_key_values
    for _ in range(decode):
        out = model(input_ids=token.view(1, 1), past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        token = out.logits[0, -1].argmax()
        tokens.append(token.item())
    return t1 - t0, time.perf_counter() - t1, tokens


def time_mode(ckpt, threads, prompt, decode, warmup, reps):
    from transformers import Qwen3_5ForConditionalGeneration

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = Qwen3_5ForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa").eval()
    print(f"torch {torch.__version__}, HF Qwen3_5ForConditionalGeneration (sdpa), threads {torch.get_num_threads()}, "
          f"loaded in {time.perf_counter() - t0:.1f} s; Gated DeltaNet: {gdn_kernels()}", flush=True)
    ids = torch.tensor([prompt_ids(prompt, model.config.text_config.vocab_size)])
    prefill, dec = [], []
    with torch.inference_mode():
        for rep in range(1 - warmup, reps + 1):  # rep <= 0: warm-up
            p, d, tokens = run(model, ids, decode)
            print(f"  rep {rep}: prefill {p:.3f} s, decode {d:.3f} s ({decode} steps)", flush=True)
            if rep > 0:
                prefill.append(p)
                dec.append(d)
    print(f"RESULT impl=hf threads={threads} prompt={prompt} decode={decode} prefill_s={min(prefill):.4f} "
          f"prefill_tok_s={prompt / min(prefill):.2f} decode_s={min(dec):.4f} decode_tok_s={decode / min(dec):.3f}")
    print("TOKENS " + " ".join(map(str, tokens)), flush=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "build" and len(sys.argv) == 3:
        return build(sys.argv[2])
    if mode == "bf16" and len(sys.argv) == 4:
        return to_bf16(sys.argv[2], sys.argv[3])
    if mode == "time" and 4 <= len(sys.argv) <= 8:
        args = [int(a) for a in sys.argv[3:]]
        threads, prompt, decode, warmup, reps = args + [128, 16, 1, 3][len(args) - 1:]
        assert prompt >= 1 and decode >= 1 and warmup >= 0 and reps >= 1, "PROMPT, DECODE, REPS >= 1, WARMUP >= 0"
        return time_mode(sys.argv[2], threads, prompt, decode, warmup, reps)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
