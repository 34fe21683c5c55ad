#!/usr/bin/env python3
"""Writes the generated part of the fuzz seed corpora (tests/fuzz/corpus/<kind>/seed_*).

Hand-made reproducers (bad_*, ok_*) live beside them and are not touched. Run from the repository root:
    python3 tools/fuzz/make_seeds.py          (needs Pillow for the image seeds)
Each target's first input byte picks the kind of input (see tests/fuzz/fuzz_<kind>.cpp).
"""
import base64
import io
import json
import os
import struct

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests/data/tiny-qwen36")
CORPUS = os.path.join(ROOT, "tests/fuzz/corpus")


def put(kind, name, data):
    os.makedirs(os.path.join(CORPUS, kind), exist_ok=True)
    with open(os.path.join(CORPUS, kind, "seed_" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read(path):
    with open(path, "rb") as f:
        return f.read()


def images():
    im = Image.new("RGB", (19, 13))
    for y in range(13):
        for x in range(19):
            im.putpixel((x, y), (x * 13 % 256, y * 19 % 256, (x * y) % 256))
    out = {}
    for name, fmt, kw in [("png", "PNG", {}), ("jpeg_420.jpg", "JPEG", {"subsampling": 2}),
                          ("jpeg_422.jpg", "JPEG", {"subsampling": 1}), ("jpeg_444.jpg", "JPEG", {"subsampling": 0}),
                          ("jpeg_progressive.jpg", "JPEG", {"progressive": True}), ("webp_lossy.webp", "WEBP", {"quality": 50}),
                          ("webp_lossless.webp", "WEBP", {"lossless": True}), ("bmp", "BMP", {}), ("gif", "GIF", {})]:
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        out[name] = b.getvalue()
    b = io.BytesIO()
    im.convert("RGBA").save(b, "PNG")
    out["rgba.png"] = b.getvalue()
    b = io.BytesIO()
    im.convert("L").save(b, "PNG")
    out["gray.png"] = b.getvalue()
    b = io.BytesIO()
    im.convert("CMYK").save(b, "JPEG")
    out["cmyk.jpg"] = b.getvalue()
    b = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(b, "JPEG", exif=exif.tobytes())
    out["exif_rotated.jpg"] = b.getvalue()
    for name, data in out.items():
        put("image", name if "." in name else name + "." + name, data)
    put("image", "data_url_png.txt", "data:image/png;base64," + base64.b64encode(out["png"]).decode())
    put("image", "data_url_jpeg.txt", "data:image/jpeg;base64," + base64.b64encode(out["jpeg_420.jpg"]).decode())


def configs():
    put("configs", "config.json", b"C" + read(os.path.join(TINY, "config.json")))
    put("configs", "preprocessor_config.json", b"P" + read(os.path.join(TINY, "preprocessor_config.json")))
    put("configs", "generation_config.json", b"G" + read(os.path.join(TINY, "generation_config.json")))
    put("configs", "generation_sampling.json", b"G" + json.dumps(
        {"do_sample": True, "temperature": 0.7, "top_k": 3, "top_p": 0.9, "repetition_penalty": 1.3, "eos_token_id": [1, 2]}).encode())
    logits = struct.pack("<6f", 0.5, -1.0, 3.0, float("inf"), float("-inf"), 2.0)
    context = struct.pack("<3q", 2, 3, -7)
    put("configs", "sampler_sample", b"S" + struct.pack("<dddqQB", 0.8, 0.9, 1.2, 2, 42, 0) + bytes([6]) + logits + context)
    put("configs", "sampler_greedy", b"S" + struct.pack("<dddqQB", 0.0, 1.0, 1.0, 0, 0, 1) + bytes([6]) + logits)


def safetensors(tensors):
    header, data = {}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def checkpoint():
    old = os.path.join(CORPUS, "safetensors")
    sep = b"\0SHARD\0"
    a = safetensors({"a.weight": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, float("nan"))),
                     "b.bias": ("BF16", [3], b"\x80\x3f\x00\x40\x00\xc0")})
    b = safetensors({"c.weight": ("F16", [2], b"\x00\x3c\x00\xc0"), "d.ids": ("I64", [1], struct.pack("<q", 5))})
    index = json.dumps({"metadata": {"total_size": 40},
                        "weight_map": {"a.weight": "model-00001-of-00003.safetensors", "b.bias": "model-00001-of-00003.safetensors",
                                       "c.weight": "model-00002-of-00003.safetensors", "d.ids": "model-00002-of-00003.safetensors"}}).encode()
    put("checkpoint", "index_and_two_shards", b"K" + index + sep + a + sep + b)
    put("checkpoint", "header_two_dtypes", b"H" + a)


def tokenizer():
    tok = json.loads(read(os.path.join(TINY, "tokenizer.json")))
    # A small tokenizer of the same kind: the first 300 vocabulary entries and the merges among them.
    vocab = {k: v for k, v in tok["model"]["vocab"].items() if v < 300}
    merges = []
    for m in tok["model"]["merges"]:
        l, r = m if isinstance(m, list) else m.split(" ", 1)
        if l in vocab and r in vocab and l + r in vocab:
            merges.append(m)
    tok["model"]["vocab"], tok["model"]["merges"] = vocab, merges
    tok["added_tokens"] = [t for t in tok["added_tokens"]][:4]
    put("tokenizer", "small_tokenizer.json", b"L" + json.dumps(tok, ensure_ascii=False).encode())
    cases = json.loads(read(os.path.join(ROOT, "tests/data/golden/tokenizer_cases.json")))["cases"]
    for i, case in enumerate(cases[:24]):
        put("tokenizer", "text_%02d" % i, b"E" + case["text"].encode("utf-8", "surrogatepass"))


def chat_template():
    put("chat_template", "qwen_template.jinja", b"T" + read(os.path.join(TINY, "chat_template.jinja")))
    put("chat_template", "macro_loop.jinja", b"T{% macro f(n) %}{% for i in range(n) %}{{ i }}{% endfor %}{% endmacro %}"
        b"{% set ns = namespace(x=[]) %}{% for m in messages %}{{ f(3) ~ m.role | upper }}{% endfor %}")
    messages = [{"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
                {"role": "assistant", "content": "<think>\nr\n</think>\n\nA cat.",
                 "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]},
                {"role": "tool", "content": "{\"ok\": true}"},
                {"role": "user", "content": "and?"}]
    put("chat_template", "messages.json", b"M" + json.dumps(messages).encode())
    put("chat_template", "messages_thinking.json", bytes([ord("M") | 15]) + json.dumps(messages[:2]).encode())


def request():
    # Q + a request body; S + stop strings and text; R + text to split (see fuzz_request.cpp).
    png = "data:image/png;base64," + base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef"
        "0000000049454e44ae426082")).decode()
    user = {"role": "user", "content": "Hello"}
    bodies = {
        "minimal.json": {"messages": [user]},
        "all_fields.json": {"model": "qwen", "messages": [{"role": "system", "content": "Be brief."}, user,
                                                          {"role": "assistant", "content": "Hi.", "reasoning_content": "greet"}, user],
                            "temperature": 0.7, "top_p": 0.9, "top_k": -1, "repetition_penalty": 1.05, "seed": 42, "max_tokens": 64,
                            "max_completion_tokens": 32, "stop": ["\n\n", "###"], "n": 1, "stream": True,
                            "stream_options": {"include_usage": True},
                            "chat_template_kwargs": {"enable_thinking": False, "preserve_thinking": True}, "tools": [], "tool_choice": "none"},
        "nulls.json": {"messages": [user], "temperature": None, "stop": None, "stream_options": None, "tools": None, "unknown": {"x": [1]}},
        "image.json": {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": png}},
                                                                 {"type": "text", "text": "What is this?"},
                                                                 {"type": "image_url", "image_url": png}]}]},
        "http_image.json": {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}]}]},
        "path_image.json": {"messages": [{"role": "user", "content": [{"type": "image", "path": "/etc/passwd"}]}]},
        "wrong_types.json": {"messages": [user], "temperature": "hot", "n": 2, "stop": ["a", "b", "c", "d", "e"]},
        "tools.json": {"messages": [user], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    }
    for name, body in bodies.items():
        put("request", name, b"Q" + json.dumps(body).encode())

    def stops(strings, seed, text):
        out = bytes([len(strings)])
        for st in strings:
            out += bytes([len(st)]) + st
        return b"S" + out + bytes([seed]) + text
    put("request", "stop_split", stops([b"###", b"\n\nUser:"], 3, b"Hello ## world ###tail"))
    put("request", "stop_overlap", stops([b"ab", b"bc", b"abcd"], 9, b"xxabcd"))
    put("request", "stop_multibyte", stops(["\u20ac \U0001F600".encode()], 5, "d\u00e9j\u00e0 \u20ac \U0001F601 \u20ac \U0001F600 end".encode()))
    put("request", "reasoning_open", b"R\x01" + b"\nLet me think.\n\n</think>\n\nThe answer is 4.")
    put("request", "reasoning_reopen", b"R\x06" + "Intro <think>\nhmm \u00e9\n</th</think>\n\nOutro<think>".encode())


def shapes():
    # op byte, then extents / arguments (see fuzz_shapes.cpp): small valid nodes of every op.
    for i, seq in enumerate([[0, 2, 3, 1, 3], [2, 2, 3, 3, 4], [3, 2, 2, 3, 2, 3, 2], [4, 2, 3, 4, 3, 4], [5, 2, 6, 2, 3, 3],
                             [6, 2, 3, 4, 4, 6, 5], [7, 3, 4, 5, 5, 7], [8, 2, 3, 2, 3, 4], [9, 3, 5], [10, 2, 4, 4],
                             [11, 2, 4, 4, 4], [12, 2, 3, 4, 5, 1], [13, 3, 4, 8, 3, 2, 8, 3, 2, 8, 0, 4],
                             [13, 3, 2, 4, 3, 2, 4, 3, 2, 4, 1, 4, 3, 7], [14, 5, 3, 4, 1, 2, 3, 0], [15, 6, 2, 4, 2, 2]]):
        put("shapes", "node_%02d" % i, bytes(seq))


if __name__ == "__main__":
    images()
    configs()
    checkpoint()
    tokenizer()
    chat_template()
    shapes()
    request()
