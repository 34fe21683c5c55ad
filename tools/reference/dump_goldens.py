#!/usr/bin/env python3
"""Dump HF-transformers golden data for the tiny Qwen3.5/3.6 checkpoint (see README.md for every file/tensor).

Run make_tiny.py first. Writes tests/data/images/*, tests/data/golden/*. Deterministic (single thread, fixed seeds).
"""
import argparse
import datetime
import io
import json
import os
import platform
import sys

import numpy as np
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
CKPT = os.path.join(DATA, "tiny-qwen36")
IMG_DIR = os.path.join(DATA, "images")
GOLD = os.path.join(DATA, "golden")
SEED = 1234

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(SEED)

from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import transformers  # noqa: E402
from transformers import AutoProcessor, Qwen3_5ForConditionalGeneration  # noqa: E402
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize  # noqa: E402
from transformers.models.qwen3_5 import modeling_qwen3_5 as MQ  # noqa: E402


def pv_to_u8(pv):
    """HF pixel values are exactly (u8 - 127.5) / 127.5 in f32 (fused rescale+normalise); store the u8 codes."""
    u8 = torch.round(pv.double() * 127.5 + 127.5).clamp(0, 255).to(torch.uint8)
    assert torch.equal((u8.float() - 127.5) / 127.5, pv), "pixel values are not exact u8 codes"
    return u8


def save(name, tensors, meta=None):
    out = {}
    for k in sorted(tensors):
        t = tensors[k]
        if k.endswith(".pixel_values"):
            k, t = k + "_u8", pv_to_u8(t)
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(t)
        t = t.detach().cpu()
        if t.dtype in (torch.int32, torch.int16, torch.uint8) and k.endswith(("ids", "thw", "index", "deltas")):
            t = t.to(torch.int64)
        out[k] = t.contiguous().clone()
    md = {"generator": "tools/reference/dump_goldens.py", "transformers": transformers.__version__,
          "torch": torch.__version__}
    if meta:
        md.update(meta)
    # a single metadata key: safetensors serialises the metadata map in hash order, which would make the file
    # bytes differ between runs with several keys
    save_file(out, os.path.join(GOLD, name), metadata={"info": json.dumps(md, sort_keys=True, ensure_ascii=False)})
    return out


def write_json(name, obj):
    with open(os.path.join(GOLD, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")


# ----------------------------------------------------------------------------------------------------------------
# a. images
# ----------------------------------------------------------------------------------------------------------------
def photo_like(h, w, seed, noise=6.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    t = (x / max(w - 1, 1) * 0.6 + y / max(h - 1, 1) * 0.4)[..., None]
    img += c0 * (1 - t) + c1 * t  # sky-like gradient
    for _ in range(4):  # blobs / discs
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(min(h, w) * 0.1, min(h, w) * 0.35)
        col = rng.uniform(0, 255, 3)
        m = np.clip(1.5 - np.sqrt((y - cy) ** 2 + (x - cx) ** 2) / r, 0, 1)[..., None]
        img = img * (1 - m) + col * m
    y0, x0 = int(rng.uniform(0, h * 0.6)), int(rng.uniform(0, w * 0.6))  # hard-edged rectangle
    img[y0:y0 + h // 4, x0:x0 + w // 3] = rng.uniform(0, 255, 3)
    img += 25 * np.sin(x / 5.0 + rng.uniform(0, 6)) [..., None] * np.array([1.0, 0.5, -0.5]) * (y < h / 3)[..., None]
    img += rng.normal(0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


IMAGES = {}
MULTI_AB = {}


def make_images():
    os.makedirs(IMG_DIR, exist_ok=True)
    specs = {
        "img_a_128x160.png": (128, 160, 1),   # multiple of 32, grid 8x10 -> 20 tokens
        "img_b_96x64.png": (96, 64, 2),       # multiple of 32, grid 6x4 -> 6 tokens
        "img_c_125x94.png": (125, 94, 3),     # needs smart_resize -> 128x96
    }
    for fn, (h, w, s) in specs.items():
        Image.fromarray(photo_like(h, w, s), "RGB").save(os.path.join(IMG_DIR, fn), optimize=False)
    # RGBA with transparency (composited on white by convert_to_rgb)
    rgb = photo_like(64, 96, 4)
    yy, xx = np.mgrid[0:64, 0:96]
    alpha = np.clip(255 * (xx / 95.0), 0, 255).astype(np.uint8)
    alpha[(yy - 32) ** 2 + (xx - 48) ** 2 < 15 ** 2] = 0      # fully transparent hole
    alpha[:8, :] = 255                                          # opaque band
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(os.path.join(IMG_DIR, "img_d_rgba_64x96.png"))
    # grayscale (mode L)
    Image.fromarray(photo_like(96, 96, 5)[..., 1], "L").save(os.path.join(IMG_DIR, "img_e_gray_96x96.png"))
    # JPEG (lossy; decoder-dependent) and lossless WebP copies of img_b
    src = Image.open(os.path.join(IMG_DIR, "img_b_96x64.png")).convert("RGB")
    src.save(os.path.join(IMG_DIR, "img_b_96x64.jpg"), quality=90, subsampling=0, optimize=False)
    webp_ok = True
    try:
        src.save(os.path.join(IMG_DIR, "img_b_96x64.webp"), lossless=True, quality=100, method=4)
    except Exception as e:  # pragma: no cover
        webp_ok = False
        print("webp not supported:", e)
    for fn in sorted(os.listdir(IMG_DIR)):
        IMAGES[fn] = os.path.join(IMG_DIR, fn)
    return webp_ok


def load(fn):
    im = Image.open(IMAGES[fn])
    im.load()
    return im


# ----------------------------------------------------------------------------------------------------------------
# b. preprocessing
# ----------------------------------------------------------------------------------------------------------------
def dump_preprocess(proc):
    ip = proc.image_processor
    T = {}
    cases = {}
    singles = ["img_a_128x160.png", "img_b_96x64.png", "img_c_125x94.png", "img_d_rgba_64x96.png",
               "img_e_gray_96x96.png", "img_b_96x64.jpg"] + (["img_b_96x64.webp"] if "img_b_96x64.webp" in IMAGES
                                                             else [])
    for fn in singles:
        key = fn.replace(".", "_")
        im = load(fn)
        r = ip(images=im, return_tensors="pt")
        if fn.endswith(".webp"):  # lossless copy of img_b: identical pixels, store the grid only
            assert torch.equal(r["pixel_values"], T["img_b_96x64_png.pixel_values"])
            T[f"{key}.image_grid_thw"] = r["image_grid_thw"]
            cases[key] = {"file": "images/" + fn, "mode": im.mode, "size_hw": [im.height, im.width],
                          "size_override": None, "pixel_values": "identical to img_b_96x64_png"}
            continue
        T[f"{key}.pixel_values"] = r["pixel_values"]
        T[f"{key}.image_grid_thw"] = r["image_grid_thw"]
        cases[key] = {"file": "images/" + fn, "mode": im.mode, "size_hw": [im.height, im.width], "size_override": None}
    # the decoded RGB of the JPEG as PIL sees it (C++ JPEG decoders may differ by a few LSB)
    T["img_b_96x64_jpg.decoded_rgb_u8"] = torch.from_numpy(np.asarray(load("img_b_96x64.jpg").convert("RGB")).copy())
    # multi-image call (a, b) -- the same pixel values are used by vision.safetensors and lm.safetensors
    r = ip(images=[load("img_a_128x160.png"), load("img_b_96x64.png")], return_tensors="pt")
    assert torch.equal(r["pixel_values"], torch.cat([T["img_a_128x160_png.pixel_values"],
                                                     T["img_b_96x64_png.pixel_values"]]))
    MULTI_AB["pixel_values"] = r["pixel_values"]
    T["multi_ab.image_grid_thw"] = r["image_grid_thw"]
    cases["multi_ab"] = {"files": ["images/img_a_128x160.png", "images/img_b_96x64.png"], "size_override": None}
    r = ip(images=[load("img_c_125x94.png"), load("img_d_rgba_64x96.png"), load("img_e_gray_96x96.png")],
           return_tensors="pt")
    assert torch.equal(r["pixel_values"], torch.cat([T["img_c_125x94_png.pixel_values"],
                                                     T["img_d_rgba_64x96_png.pixel_values"],
                                                     T["img_e_gray_96x96_png.pixel_values"]]))
    T["multi_cde.image_grid_thw"] = r["image_grid_thw"]
    cases["multi_cde"] = {"files": ["images/img_c_125x94.png", "images/img_d_rgba_64x96.png",
                                    "images/img_e_gray_96x96.png"], "size_override": None}
    # down-scaling (antialiased bicubic) with a smaller pixel budget passed as a call override
    down = {"shortest_edge": 1024, "longest_edge": 8192}
    for fn in ["img_a_128x160.png", "img_c_125x94.png"]:
        key = "down_" + fn.replace(".", "_")
        r = ip(images=load(fn), size=down, return_tensors="pt")
        T[f"{key}.pixel_values"] = r["pixel_values"]
        T[f"{key}.image_grid_thw"] = r["image_grid_thw"]
        cases[key] = {"file": "images/" + fn, "size_override": down}

    # smart_resize tables (HF's own function), factor 32
    sizes = [(720, 1280), (1080, 1920), (1000, 1000), (100, 100), (5000, 5000), (4000, 3000), (480, 640),
             (125, 94), (128, 160), (96, 64), (64, 64), (63, 65), (31, 31), (16, 40), (32, 3000), (40, 8000),
             (8000, 40), (33, 6600), (33, 6601), (10, 2000), (1, 200), (1, 201), (2, 500), (3, 3), (48, 48),
             (80, 80), (112, 112), (144, 144), (240, 320), (272, 336), (15, 17), (47, 49), (511, 513),
             (512, 512), (513, 511), (700, 600), (1024, 1024), (2048, 1536), (3000, 4000), (4096, 4096),
             (4097, 4095), (6000, 8000), (12345, 6789), (200, 40000), (16000, 80), (1200, 1600), (1440, 2560),
             (2160, 3840), (336, 336), (448, 448), (80, 16000), (16, 16), (272, 480), (368, 640), (592, 1056)]
    bounds = {"tiny": (64 * 64, 512 * 512), "qwen": (65536, 16777216)}
    meta = {}
    for bn, (mn, mx) in bounds.items():
        ins, outs = [], []
        for h, w in sizes:
            try:
                oh, ow = smart_resize(h, w, factor=32, min_pixels=mn, max_pixels=mx)
            except ValueError:
                oh, ow = -1, -1
            ins.append([h, w])
            outs.append([oh, ow])
        T[f"smart_resize.{bn}.in_hw"] = torch.tensor(ins, dtype=torch.int64)
        T[f"smart_resize.{bn}.out_hw"] = torch.tensor(outs, dtype=torch.int64)
        meta[bn] = {"factor": 32, "min_pixels": mn, "max_pixels": mx}
    save("preprocess.safetensors", T, {"cases": cases, "smart_resize": meta,
                                       "note": "out_hw = [-1,-1] where smart_resize raises (aspect ratio > 200)"})
    return T


# ----------------------------------------------------------------------------------------------------------------
# hooks / wrappers
# ----------------------------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.store = {}
        self.handles = []
        self.active = True
        self.current_layer = None

    def hook(self, module, key, what="out"):
        def fn(mod, args, kwargs, out):
            if not self.active:
                return
            if what == "out":
                o = out[0] if isinstance(out, tuple) else out
                self.store[key] = o.detach().clone()
            elif what == "outs":
                for i, o in enumerate(out):
                    self.store[f"{key}{i}"] = o.detach().clone()
            elif what == "in":
                for i, a in enumerate(args):
                    if isinstance(a, torch.Tensor):
                        self.store[f"{key}.in{i}"] = a.detach().clone()
                for k, a in kwargs.items():
                    if isinstance(a, torch.Tensor):
                        self.store[f"{key}.{k}"] = a.detach().clone()
                o = out[0] if isinstance(out, tuple) else out
                self.store[f"{key}.out"] = o.detach().clone()
        self.handles.append(module.register_forward_hook(fn, with_kwargs=True))

    def pre(self, module, layer_idx):
        def fn(mod, args):
            self.current_layer = layer_idx
        self.handles.append(module.register_forward_pre_hook(fn))

    def clear(self):
        for h in self.handles:
            h.remove()
        self.handles = []
        self.store = {}


REC = Recorder()
WRAP_LAYERS = set()
_orig_chunk = MQ.torch_chunk_gated_delta_rule
_orig_rec = MQ.torch_recurrent_gated_delta_rule
_orig_conv = MQ.causal_conv1d_fn


def _wrap_rule(orig, tag):
    def f(query, key, value, g, beta, *a, **kw):
        out, state = orig(query, key, value, g, beta, *a, **kw)
        li = REC.current_layer
        if REC.active and li in WRAP_LAYERS:
            p = f"layers.{li}.linear_attn.{tag}"
            REC.store[f"{p}.query"] = query.detach().clone()
            REC.store[f"{p}.key"] = key.detach().clone()
            REC.store[f"{p}.value"] = value.detach().clone()
            REC.store[f"{p}.g"] = g.detach().clone()
            REC.store[f"{p}.beta"] = beta.detach().clone()
            init = kw.get("initial_state")
            if init is not None:
                REC.store[f"{p}.initial_state"] = init.detach().clone()
            REC.store[f"{p}.out"] = out.detach().clone()
            if state is not None:
                REC.store[f"{p}.final_state"] = state.detach().clone()
        return out, state
    return f


def _wrap_conv(hidden_states, weight, bias=None, activation=None, **kw):
    out = _orig_conv(hidden_states, weight, bias, activation, **kw)
    li = REC.current_layer
    if REC.active and li in WRAP_LAYERS:
        REC.store[f"layers.{li}.linear_attn.conv.in"] = hidden_states.detach().clone()
        REC.store[f"layers.{li}.linear_attn.conv.out"] = out.detach().clone()
    return out


MQ.torch_chunk_gated_delta_rule = _wrap_rule(_orig_chunk, "chunk_rule")
MQ.torch_recurrent_gated_delta_rule = _wrap_rule(_orig_rec, "recurrent_rule")
MQ.causal_conv1d_fn = _wrap_conv


def install_lm_hooks(model, layers_detail):
    lm = model.model.language_model
    REC.hook(lm.embed_tokens, "embed_tokens.out")
    REC.hook(lm.norm, "final_norm.out")
    REC.hook(lm.rotary_emb, "rotary_emb.out", what="outs")
    for i, layer in enumerate(lm.layers):
        REC.pre(layer, i)
        REC.hook(layer, f"layers.{i}.out")
        if i not in layers_detail:
            continue
        p = f"layers.{i}"
        REC.hook(layer.input_layernorm, f"{p}.input_layernorm.out")
        REC.hook(layer.post_attention_layernorm, f"{p}.post_attention_layernorm.out")
        REC.hook(layer.mlp, f"{p}.mlp.out")
        if layer.block_type == "linear_attention":
            la = layer.linear_attn
            for n in ("in_proj_qkv", "in_proj_z", "in_proj_a", "in_proj_b", "out_proj"):
                REC.hook(getattr(la, n), f"{p}.linear_attn.{n}.out")
            REC.hook(la.norm, f"{p}.linear_attn.norm", what="in")
            REC.hook(la, f"{p}.linear_attn.out")
        else:
            sa = layer.self_attn
            for n in ("q_proj", "k_proj", "v_proj", "q_norm", "k_norm"):
                REC.hook(getattr(sa, n), f"{p}.self_attn.{n}.out")
            REC.hook(sa.o_proj, f"{p}.self_attn.o_proj", what="in")
            REC.hook(sa, f"{p}.self_attn.out")


# ----------------------------------------------------------------------------------------------------------------
# c. vision
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def dump_vision(model, pre):
    vis = model.model.visual
    T = {}
    REC.clear()
    REC.hook(vis.patch_embed, "patch_embed.out")
    REC.hook(vis.rotary_pos_emb, "rotary.out", what="outs")
    for j, blk in enumerate(vis.blocks):
        REC.hook(blk, f"blocks.{j}.out")
    b0 = vis.blocks[0]
    REC.hook(b0.norm1, "blocks.0.norm1.out")
    REC.hook(b0.attn.qkv, "blocks.0.attn.qkv.out")
    REC.hook(b0.attn.proj, "blocks.0.attn.proj", what="in")
    REC.hook(b0.norm2, "blocks.0.norm2.out")
    REC.hook(b0.mlp.linear_fc1, "blocks.0.mlp.linear_fc1.out")
    REC.hook(b0.mlp, "blocks.0.mlp.out")
    REC.hook(vis.merger.norm, "merger.norm.out")
    REC.hook(vis.merger.linear_fc1, "merger.linear_fc1.out")

    pv, thw = MULTI_AB["pixel_values"], pre["multi_ab.image_grid_thw"]
    out = vis(pv, grid_thw=thw, output_hidden_states=True)
    for k, v in REC.store.items():
        T["ab." + k] = v
    T["ab.last_hidden_state"] = out.last_hidden_state
    T["ab.pooler_output"] = out.pooler_output
    for i, h in enumerate(out.hidden_states):
        T[f"ab.hidden_states.{i}"] = h
    # position embedding that is added to the patch embedding (HF's own index/weight helper)
    idx, w = MQ.get_vision_interpolation_indices_and_weights(
        thw, num_grid_per_side=vis.num_grid_per_side, mode=vis.interpolation_mode,
        align_corners=vis.interpolation_align_corners, spatial_merge_size=vis.config.spatial_merge_size)
    T["ab.pos_embed.interp_indices"] = idx
    T["ab.pos_embed.interp_weights"] = w
    T["ab.pos_embed.added"] = (vis.pos_embed(idx) * w[:, :, None]).sum(1)
    T["ab.rotary.position_ids"] = MQ.get_vision_position_ids(thw, vis.spatial_merge_size)
    cu, _ = MQ.get_vision_attention_seqlens(thw, vis.config)
    T["ab.cu_seqlens"] = cu.to(torch.int64)
    n_hidden = len(out.hidden_states)
    REC.clear()
    # single resized image
    pv, thw = pre["img_c_125x94_png.pixel_values"], pre["img_c_125x94_png.image_grid_thw"]
    out = vis(pv, grid_thw=thw)
    T["c.last_hidden_state"] = out.last_hidden_state
    T["c.pooler_output"] = out.pooler_output
    save("vision.safetensors", T, {
        "inputs": "ab.* = visual(preprocess:multi_ab.pixel_values, grid_thw=multi_ab.image_grid_thw); "
                  "c.* = visual(preprocess:img_c_125x94_png.pixel_values, grid_thw=...)",
        "hidden_states_count": str(n_hidden)})
    return T


# ----------------------------------------------------------------------------------------------------------------
# d. language model
# ----------------------------------------------------------------------------------------------------------------
LONG_TEXT = (
    "Summarise these notes in three short bullet points. "
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the warm house near the river. "
    "def forward(self, x):\n    return self.proj(x) + x\n"
    "数字 12345 和 67890，我们今天学习语言模型。 مرحبا بالعالم — नमस्ते दुनिया 🚀👍🏽 "
    "DON'T forget: I'll check 3.14 again!"
)


LOGITS_TAIL = 32


@torch.no_grad()
def run_prompt(model, inputs, prefix, T, detail_layers):
    REC.clear()
    WRAP_LAYERS.clear()
    WRAP_LAYERS.update(detail_layers)
    install_lm_hooks(model, detail_layers)
    REC.active = True
    model.model.rope_deltas = None
    out = model(**inputs, output_hidden_states=True, use_cache=True)
    st = {k: (v[0] if (v.dim() >= 1 and v.shape[0] == 1) else v) for k, v in REC.store.items()}
    REC.clear()
    hs = [h[0] for h in out.hidden_states]
    n = len(model.model.language_model.layers)
    # HF hidden_states: [0] = embeddings (after image scatter), [i] = output of layer i-1 (i < n),
    # [n] = final norm output; the last layer's pre-norm output is kept as layers.{n-1}.out
    assert len(hs) == n + 1
    # (for image prompts hs[0] already holds the scattered image embeddings; the hook saw the plain lookup)
    emb = st.pop("embed_tokens.out")
    assert "pixel_values" in inputs or torch.equal(hs[0], emb)
    for i in range(n - 1):
        assert torch.equal(hs[i + 1], st.pop(f"layers.{i}.out"))
    assert torch.equal(hs[n], st.pop("final_norm.out"))
    # redundant copies are dropped (asserted equal)
    for li in detail_layers:
        p = f"layers.{li}"
        if f"{p}.linear_attn.out" in st:
            assert torch.equal(st.pop(f"{p}.linear_attn.out"), st[f"{p}.linear_attn.out_proj.out"])
            assert torch.equal(st.pop(f"{p}.linear_attn.norm.in0"),
                               st[f"{p}.linear_attn.chunk_rule.out"].reshape(-1, st[f"{p}.linear_attn.norm.out"].shape[-1]))
            assert torch.equal(st.pop(f"{p}.linear_attn.norm.in1"),
                               st[f"{p}.linear_attn.in_proj_z.out"].reshape(-1, st[f"{p}.linear_attn.norm.out"].shape[-1]))
            assert torch.equal(st.pop(f"{p}.linear_attn.conv.in"), st[f"{p}.linear_attn.in_proj_qkv.out"].T)
        if f"{p}.self_attn.out" in st:
            assert torch.equal(st.pop(f"{p}.self_attn.out"), st[f"{p}.self_attn.o_proj.out"])
    for k, v in st.items():
        T[f"{prefix}.{k}"] = v
    for i, h in enumerate(hs):
        T[f"{prefix}.hidden_states.{i}"] = h
    # logits only for the last LOGITS_TAIL positions (all positions = final norm output @ lm_head^T)
    T[f"{prefix}.logits_tail"] = out.logits[0, -LOGITS_TAIL:]
    return out


@torch.no_grad()
def greedy(model, inputs, prefix, T, n_new=16):
    REC.active = False
    model.model.rope_deltas = None
    L = inputs["input_ids"].shape[1]
    # EOS ids are disabled for the golden run (random weights may emit <|endoftext|>), so that all n_new steps run
    # with pure greedy argmax (min_new_tokens would instead mask EOS logits and change the argmax).
    from transformers import GenerationConfig
    gc = GenerationConfig(do_sample=False, max_new_tokens=n_new, eos_token_id=None,
                          pad_token_id=model.generation_config.pad_token_id, top_k=None, top_p=None,
                          temperature=None)
    saved = (model.generation_config.eos_token_id, model.config.eos_token_id, model.config.text_config.eos_token_id)
    model.generation_config.eos_token_id = None
    model.config.eos_token_id = None
    model.config.text_config.eos_token_id = None
    try:
        g = model.generate(**inputs, generation_config=gc, output_logits=True, return_dict_in_generate=True)
    finally:
        (model.generation_config.eos_token_id, model.config.eos_token_id,
         model.config.text_config.eos_token_id) = saved
    assert g.sequences.shape[1] == L + n_new, g.sequences.shape
    seq = g.sequences[0]
    steps = torch.stack([lg[0] for lg in g.logits])  # [n_new, V]
    T[f"{prefix}.generated_ids"] = seq[L:]
    T[f"{prefix}.step_logits"] = steps
    # cross-check: no-cache full forward over the extended sequence
    full = seq[None, :-1]
    kw = {"input_ids": full, "attention_mask": torch.ones_like(full)}
    if "pixel_values" in inputs:
        mm = torch.zeros_like(full, dtype=inputs["mm_token_type_ids"].dtype)
        mm[:, :L] = inputs["mm_token_type_ids"]
        kw.update(pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"], mm_token_type_ids=mm)
        pos, _ = model.model.get_rope_index(full, mm_token_type_ids=mm, image_grid_thw=inputs["image_grid_thw"])
        T[f"{prefix}.extended_position_ids"] = pos[:, 0]
    model.model.rope_deltas = None
    ref = model(**kw, use_cache=False).logits[0, L - 1:]
    err = (ref - steps).abs().max().item()
    assert err < 5e-4, f"{prefix}: cached decode vs full forward max abs diff {err}"
    assert torch.equal(ref.argmax(-1), seq[L:]), (prefix, ref.argmax(-1), seq[L:])
    REC.active = True
    return err


def dump_lm(model, proc, pre):
    T_prompts, T = {}, {}
    tok = proc.tokenizer
    checks = {}
    # (i) text-only chat prompt (> 128 tokens: two full 64-token chunks + ragged tail)
    msgs = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": LONG_TEXT}]
    text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    L = enc["input_ids"].shape[1]
    assert 128 < L < 192 and L % 64 != 0, L
    ids = enc["input_ids"]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    T_prompts["text.input_ids"] = ids[0]
    T_prompts["text.position_ids"] = torch.arange(L)[None].expand(3, L)
    run_prompt(model, inputs, "text", T, detail_layers={0, 3})
    checks["text_decode_maxdiff"] = greedy(model, inputs, "text", T)

    # (ii) two images with different grids
    msgs_mm = [{"role": "user", "content": [
        {"type": "text", "text": "Compare the two pictures. First:"},
        {"type": "image", "path": IMAGES["img_a_128x160.png"]},
        {"type": "text", "text": " and second:"},
        {"type": "image", "path": IMAGES["img_b_96x64.png"]},
        {"type": "text", "text": " Describe colours, shapes and textures in detail, and explain which one looks "
                                 "more like a photograph of a city street at night, step by step, please."}]}]
    mm = proc.apply_chat_template(msgs_mm, tokenize=True, add_generation_prompt=True, return_dict=True,
                                  return_tensors="pt")
    mm_text = proc.apply_chat_template(msgs_mm, tokenize=False, add_generation_prompt=True)
    assert torch.equal(mm["pixel_values"], MULTI_AB["pixel_values"])
    assert torch.equal(mm["image_grid_thw"], pre["multi_ab.image_grid_thw"])
    Lm = mm["input_ids"].shape[1]
    assert Lm > 128, Lm
    pos, deltas = model.model.get_rope_index(mm["input_ids"], mm_token_type_ids=mm["mm_token_type_ids"],
                                             image_grid_thw=mm["image_grid_thw"],
                                             attention_mask=mm["attention_mask"])
    T_prompts["mm.input_ids"] = mm["input_ids"][0]
    T_prompts["mm.mm_token_type_ids"] = mm["mm_token_type_ids"][0].to(torch.int64)
    T_prompts["mm.image_grid_thw"] = mm["image_grid_thw"]
    T_prompts["mm.position_ids"] = pos[:, 0]
    T_prompts["mm.rope_deltas"] = deltas.reshape(-1)
    inputs_mm = {k: mm[k] for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw",
                                    "mm_token_type_ids")}
    run_prompt(model, inputs_mm, "mm", T, detail_layers=set())
    checks["mm_decode_maxdiff"] = greedy(model, inputs_mm, "mm", T)

    # (iv) batch of two text prompts with left padding (last-position logits only)
    short = proc.apply_chat_template([{"role": "user", "content": "Hi! 你好 🚀"}], tokenize=False,
                                     add_generation_prompt=True)
    tok.padding_side = "left"
    b = tok([text, short], return_tensors="pt", padding=True)
    T_prompts["batch.input_ids"] = b["input_ids"]
    T_prompts["batch.attention_mask"] = b["attention_mask"].to(torch.int64)
    with torch.no_grad():
        model.model.rope_deltas = None
        lo = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits
        T["batch.last_logits"] = lo[:, -1]
        model.model.rope_deltas = None
        s = tok(short, return_tensors="pt")
        lo_s = model(**s, use_cache=False).logits[0, -1]
    checks["batch_vs_single_short_maxdiff"] = (lo_s - lo[1, -1]).abs().max().item()
    checks["batch_vs_single_long_maxdiff"] = (T["text.logits_tail"][-1] - lo[0, -1]).abs().max().item()

    meta = {"text_rendered": text, "mm_rendered_before_expansion": mm_text, "short_rendered": short}
    save("text_prompts.safetensors", T_prompts, meta)
    save("lm.safetensors", T, {"checks": checks,
                              "note": "prefix text.* / mm.* : prompts in text_prompts.safetensors; "
                                      "mm pixel_values = cat(preprocess img_a_128x160_png.pixel_values_u8, img_b_96x64_png.pixel_values_u8) mapped by (u8-127.5)/127.5"})
    return checks


# ----------------------------------------------------------------------------------------------------------------
# e. tokenizer cases, f. chat template cases
# ----------------------------------------------------------------------------------------------------------------
TOKENIZER_STRINGS = [
    "Hello world", " Hello  world ", "hello\nworld", "line1\r\nline2\r\n", "a\n\n\nb", "tabs\tand\t\tmore",
    "    indented code", "trailing spaces   ", "   ", "\n", "\t\n \r\n", "x  \n  y",
    "caf\u00e9", "cafe\u0301", "e\u0301\u0301", "n\u0303o", "\u1e9b\u0323", "\u0041\u030a", "\u212b",
    "\ufb01 ligature", "ＦＵＬＬ　ＷＩＤＴＨ",
    "12345", "3.14159", "1,000,000", "v2.0-rc1", "٠١٢٣", "१२३",
    "DON'T", "I'll", "we're", "they've", "she's", "It'd", "I'M", "'s", "O'Neil's", "don't'll",
    "我们今天学习语言模型。", "日本語のテキスト", "한국어 텍스트", "مرحبا بالعالم", "नमस्ते दुनिया", "हिन्दी",
    "Ελληνικά", "Русский текст", "Tiếng Việt",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵🇺🇸", "❤️", "a😀b", "🚀🚀🚀",
    "<|im_start|>user\nhi<|im_end|>", "<|im_start", "<|im_start|", "<|im_end|><|endoftext|>",
    "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>x</tool_call>", "<|vision_start|><|image_pad|><|vision_end|>",
    "< |im_start|>", "<|IM_START|>", "text<|image_pad|>text",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "!!!!!!!!!!!!!!!!!!!!!!!!!",
    "........................................", "                                        x",
    "ab" * 40, "def f(x):\n    return x**2  # square\n", "{\"a\": [1, 2, {\"b\": null}]}",
    "https://example.com/path?q=1&r=2", "user@example.com", "\u200b\u200czero width", "\u00a0nbsp\u00a0",
    "mixed 中文 and English 123 !?", "",
]


def dump_tokenizer(tok):
    cases = []
    for s in TOKENIZER_STRINGS:
        ids = tok(s, add_special_tokens=False)["input_ids"]
        cases.append({"text": s, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
                      "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    write_json("tokenizer_cases.json", {
        "tokenizer": "tests/data/tiny-qwen36/tokenizer.json", "call": "tok(text, add_special_tokens=False)",
        "cases": cases})


def chat_cases():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    A, B, C = "images/img_a_128x160.png", "images/img_b_96x64.png", "images/img_c_125x94.png"
    return [
        ("system_user", [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "Hello!"}], {}),
        ("user_only_no_gen", [{"role": "user", "content": "  Hello with spaces  "}], {"add_generation_prompt": False}),
        ("enable_thinking_false", [{"role": "user", "content": "Quick answer please."}], {"enable_thinking": False}),
        ("multi_turn_reasoning", [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "Add two and two."},
            {"role": "user", "content": "And 3+3?"},
            {"role": "assistant", "content": "<think>\nThree plus three.\n</think>\n\n6"},
            {"role": "user", "content": "Thanks."}], {}),
        ("multi_turn_reasoning_preserve", [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "Add two and two."},
            {"role": "user", "content": "And 3+3?"}], {"preserve_thinking": True}),
        ("last_assistant_after_query", [
            {"role": "user", "content": "Continue"},
            {"role": "assistant", "content": "<think>\nhidden\n</think>\n\nvisible"}], {"add_generation_prompt": False}),
        ("tools_call_and_response", [
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "{\"temp\": 21}"}], {"tools": tools}),
        ("one_image", [{"role": "user", "content": [{"type": "image", "image": B},
                                                    {"type": "text", "text": "Describe this image."}]}], {}),
        ("two_images_one_message", [{"role": "user", "content": [
            {"type": "text", "text": "Compare "}, {"type": "image", "image": A}, {"type": "image", "image": B},
            {"type": "text", "text": " please."}]}], {"enable_thinking": False}),
        ("images_multi_turn_vision_id", [
            {"role": "user", "content": [{"type": "image", "image": C}, {"type": "text", "text": "What is it?"}]},
            {"role": "assistant", "content": "A picture."},
            {"role": "user", "content": [{"type": "text", "text": "And these?"}, {"type": "image", "image": B},
                                         {"type": "image", "image": A}]}], {"add_vision_id": True}),
    ]


def dump_chat(proc):
    out = []
    for name, msgs, kw in chat_cases():
        kw = dict(kw)
        kw.setdefault("add_generation_prompt", True)
        has_img = any(isinstance(m["content"], list) and any(it.get("type") == "image" for it in m["content"])
                      for m in msgs)

        def absolute(ms):
            res = []
            for m in ms:
                m = dict(m)
                if isinstance(m["content"], list):
                    m["content"] = [dict(it, image=os.path.join(DATA, it["image"])) if it.get("type") == "image"
                                    else it for it in m["content"]]
                res.append(m)
            return res

        rendered = proc.apply_chat_template(absolute(msgs), tokenize=False, **kw)
        case = {"name": name, "messages": msgs, "kwargs": kw, "rendered": rendered}
        if has_img:
            enc = proc.apply_chat_template(absolute(msgs), tokenize=True, return_dict=True, return_tensors="pt", **kw)
            case["input_ids"] = enc["input_ids"][0].tolist()
            case["image_grid_thw"] = enc["image_grid_thw"].tolist()
            case["mm_token_type_ids"] = enc["mm_token_type_ids"][0].tolist()
        else:
            case["input_ids"] = proc.tokenizer(rendered, add_special_tokens=False)["input_ids"]
        out.append(case)
    write_json("chat_template_cases.json", {
        "template": "tests/data/tiny-qwen36/chat_template.jinja",
        "note": "rendered = processor.apply_chat_template(messages, tokenize=False, **kwargs) (image paths are "
                "relative to tests/data); input_ids: for image cases from apply_chat_template(tokenize=True) i.e. "
                "after <|image_pad|> expansion, else tokenizer(rendered, add_special_tokens=False)",
        "cases": out})


# ----------------------------------------------------------------------------------------------------------------
# g. delta rule ops
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def dump_delta_rule():
    g_ = torch.Generator().manual_seed(SEED + 7)
    Hk, Hv, dk, dv = 2, 6, 16, 24
    T = {}
    for L in (1, 63, 64, 65, 130):
        q = torch.randn(1, L, Hk, dk, generator=g_)
        k = torch.randn(1, L, Hk, dk, generator=g_)
        v = torch.randn(1, L, Hv, dv, generator=g_)
        beta = torch.rand(1, L, Hv, generator=g_)
        # log decays: mix of slow (-0.01..-0.1) and fast (-0.5..-3) heads
        scale = torch.tensor([0.02, 0.1, 0.5, 1.5, 0.05, 3.0])
        g = -(torch.rand(1, L, Hv, generator=g_) * scale + 0.001)
        s0 = torch.randn(1, Hv, dk, dv, generator=g_) * 0.5
        p = f"L{L}"
        T.update({f"{p}.query": q, f"{p}.key": k, f"{p}.value": v, f"{p}.beta": beta, f"{p}.g": g,
                  f"{p}.initial_state": s0})
        for tag, fn in (("chunk", _orig_chunk), ("recurrent", _orig_rec)):
            o, s = fn(q, k, v, g=g, beta=beta, initial_state=s0, output_final_state=True,
                      use_qk_l2norm_in_kernel=True)
            T[f"{p}.{tag}.out"], T[f"{p}.{tag}.final_state"] = o, s
            if L != 65:
                continue
            o0, s0n = fn(q, k, v, g=g, beta=beta, initial_state=None, output_final_state=True,
                         use_qk_l2norm_in_kernel=True)
            T[f"{p}.{tag}.zero_init.out"], T[f"{p}.{tag}.zero_init.final_state"] = o0, s0n
        d = (T[f"{p}.chunk.out"] - T[f"{p}.recurrent.out"]).abs().max().item()
        assert d < 1e-3, (L, d)
    save("chunked_delta_rule.safetensors", T, {
        "call": "fn(query, key, value, g=g, beta=beta, initial_state=initial_state|None, output_final_state=True, "
                "use_qk_l2norm_in_kernel=True); shapes [B=1, L, H, d]; chunk_size 64",
        "functions": "transformers.models.qwen3_5.modeling_qwen3_5.torch_chunk_gated_delta_rule / "
                     "torch_recurrent_gated_delta_rule"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--date", default=os.environ.get("GOLDEN_DATE", datetime.date.today().isoformat()))
    args = ap.parse_args()
    os.makedirs(GOLD, exist_ok=True)
    webp_ok = make_images()
    proc = AutoProcessor.from_pretrained(CKPT)
    pre = dump_preprocess(proc)
    model = Qwen3_5ForConditionalGeneration.from_pretrained(CKPT, dtype=torch.float32,
                                                            attn_implementation="eager").eval()
    dump_vision(model, pre)
    checks = dump_lm(model, proc, pre)
    dump_tokenizer(proc.tokenizer)
    dump_chat(proc)
    dump_delta_rule()
    import safetensors
    import tokenizers
    import PIL
    import torchvision
    try:
        import fla  # noqa: F401
        fla_present = True
    except ImportError:
        fla_present = False
    write_json("versions.json", {
        "transformers": transformers.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__, "pillow": PIL.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "seed_model": make_tiny.SEED, "seed_goldens": SEED, "date": args.date, "torch_threads": 1,
        "image_processor_class": type(proc.image_processor).__name__,
        "image_resize_backend": "torchvision (transformers TorchvisionBackend: tvF.resize(uint8, BICUBIC, "
                                "antialias=True)); PIL inputs: image_transforms.convert_to_rgb (PIL alpha_composite on white, "
                                "L->RGB via PIL convert); tensor inputs (e.g. apply_chat_template paths decoded by "
                                "torchvision) would instead composite in float32 and truncate (tvF.to_dtype)",
        "webp_written": webp_ok, "flash_linear_attention_installed": fla_present,
        "attn_implementation": "eager", "dtype": "float32",
        "decode_checks": checks,
    })
    print("checks", checks)


if __name__ == "__main__":
    main()
