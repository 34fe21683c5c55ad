#!/usr/bin/env python3
"""Extra golden data for generation (models/qwen36/generate.hpp): HF's repetition penalty.

Writes tests/data/golden/generate_extra.safetensors:
  * `text.repetition_penalty_1.5.generated_ids` [16]: greedy `model.generate` on the 181-token text prompt
    (text_prompts.safetensors `text.input_ids`) with repetition_penalty=1.5, EOS disabled (as dump_goldens.greedy).
    The script asserts that these differ from the plain greedy tokens (lm.safetensors `text.generated_ids`), so
    the C++ test can tell a penalty that is applied from one that is not.

Run after make_tiny.py / dump_goldens.py:  python3.11 tools/reference/dump_generate_extra.py   (deterministic, ~2 s)
"""
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import GenerationConfig, Qwen3_5ForConditionalGeneration

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
CKPT = os.path.join(DATA, "tiny-qwen36")
GOLD = os.path.join(DATA, "golden")
PENALTY = 1.5
N_NEW = 16


def main():
    torch.manual_seed(0)
    model = Qwen3_5ForConditionalGeneration.from_pretrained(CKPT, dtype=torch.float32, attn_implementation="eager").eval()
    ids = load_file(os.path.join(GOLD, "text_prompts.safetensors"))["text.input_ids"][None, :]
    plain = load_file(os.path.join(GOLD, "lm.safetensors"))["text.generated_ids"]
    gc = GenerationConfig(do_sample=False, max_new_tokens=N_NEW, eos_token_id=None, repetition_penalty=PENALTY,
                          pad_token_id=model.generation_config.pad_token_id, top_k=None, top_p=None, temperature=None)
    model.generation_config.eos_token_id = None
    model.config.eos_token_id = None
    model.config.text_config.eos_token_id = None
    with torch.inference_mode():
        seq = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gc)[0, ids.shape[1]:]
    assert seq.shape[0] == N_NEW, seq.shape
    assert not torch.equal(seq, plain), "the penalty changes nothing on this prompt: pick another penalty"
    md = {"generator": "tools/reference/dump_generate_extra.py", "transformers": transformers.__version__,
          "torch": torch.__version__, "repetition_penalty": PENALTY}
    save_file({f"text.repetition_penalty_{PENALTY}.generated_ids": seq.to(torch.int64).contiguous()},
              os.path.join(GOLD, "generate_extra.safetensors"), metadata={"info": json.dumps(md, sort_keys=True)})
    print("penalised:", seq.tolist())
    print("plain:    ", plain.tolist())


if __name__ == "__main__":
    main()
