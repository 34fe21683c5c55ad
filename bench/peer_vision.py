"""PyTorch peer for bench/bench_vision.cpp: HF transformers' own Qwen3_5VisionModel (f32) on THE SAME
weights (the model.safetensors that `bench_vision write DIR` wrote), the same image sizes and thread
count, timed as ours: WARMUP untimed runs, then best of REPS, under torch.inference_mode.

    python3 bench/peer_vision.py DIR THREADS ATTN [WARMUP REPS [SIZES...]]     ATTN: sdpa | eager
    python3 bench/peer_vision.py DIR THREADS ATTN --check               compare with DIR/check.safetensors

--check runs DIR/check.safetensors' pixel values (two small images in one call) through HF and prints
the max relative error (max |ours - HF| / max |HF|) of image_embeds and last_hidden_state against
vlgraph's outputs stored there: this proves both sides run the same weights.
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from transformers.initialization import no_init_weights
from transformers.models.qwen3_5.configuration_qwen3_5 import Qwen3_5VisionConfig
from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5VisionModel


def load_model(ckpt, attn):
    with open(os.path.join(ckpt, "config.json")) as f:
        vcfg = json.load(f)["vision_config"]
    config = Qwen3_5VisionConfig(**vcfg)
    config._attn_implementation = attn
    with no_init_weights():  # every parameter is overwritten below; skips 440M random inits
        model = Qwen3_5VisionModel._from_config(config, attn_implementation=attn, dtype=torch.float32)
    prefix = "model.visual."
    state = {k[len(prefix):]: v for k, v in load_file(os.path.join(ckpt, "model.safetensors")).items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(state, strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    del state
    return model.eval()


def rel(got, ref):
    return ((got - ref).abs().max() / ref.abs().max()).item()


def flops(cfg, grids):
    """Analytic FLOPs, the same count as bench_vision.cpp's tower_flops()."""
    d, i = cfg.hidden_size, cfg.intermediate_size
    n = sum(t * h * w for t, h, w in grids)
    pe = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2
    s2 = sum(t * (h * w) ** 2 for t, h, w in grids)
    m = d * cfg.spatial_merge_size ** 2
    tokens = n // cfg.spatial_merge_size ** 2
    return (2 * n * pe * d + cfg.depth * 2 * n * (4 * d * d + 2 * d * i) + cfg.depth * 4 * s2 * d
            + 2 * tokens * m * m + 2 * tokens * m * cfg.out_hidden_size)


def main():
    ckpt, threads, attn = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rest = sys.argv[4:]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = load_model(ckpt, attn)
    cfg = model.config
    if rest and rest[0] == "--check":
        ref = load_file(os.path.join(ckpt, "check.safetensors"))
        with torch.inference_mode():
            out = model(ref["pixel_values"], ref["image_grid_thw"])
        print(f"check torch {torch.__version__} attn={attn} threads={threads}: "
              f"image_embeds max rel diff {rel(ref['image_embeds'], out.pooler_output):.2e}, "
              f"last_hidden_state max rel diff {rel(ref['last_hidden_state'], out.last_hidden_state):.2e}")
        return
    warmup = int(rest[0]) if rest else 1
    reps = int(rest[1]) if len(rest) > 1 else 3
    sides = [int(s) for s in rest[2:]] or [448, 1024]
    print(f"torch {torch.__version__}, transformers Qwen3_5VisionModel, attn {attn}, threads {torch.get_num_threads()}")
    for side in sides:
        g = side // cfg.patch_size
        pe = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2
        px = torch.rand(g * g, pe) * 2 - 1
        grid = torch.tensor([[1, g, g]])
        times = []
        with torch.inference_mode():
            for rep in range(1 - warmup, reps + 1):  # rep <= 0: warm-up
                t0 = time.perf_counter()
                out = model(px, grid)
                s = time.perf_counter() - t0
                if rep > 0:
                    times.append(s)
                assert torch.isfinite(out.pooler_output).all()
                print(f"  {side}x{side} rep {rep}: {s:.3f} s", flush=True)
        best = min(times)
        f = flops(cfg, [(1, g, g)])
        print(f"RESULT impl=torch-{attn} threads={threads} image={side}x{side} patches={g * g} best_s={best:.4f} "
              f"gflop={f * 1e-9:.1f} gflops={f / best * 1e-9:.1f}", flush=True)


if __name__ == "__main__":
    main()
