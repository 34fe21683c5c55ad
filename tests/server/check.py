#!/usr/bin/env python3
"""tests/server/check.py — the JSON and SSE checks of tests/server/run.sh (python3 standard library only).

    check.py completion FILE [--max-tokens N] [--no-reasoning]   a chat.completion body
    check.py stream FILE [--usage] [--max-tokens N] [--no-reasoning]   an SSE body of chat.completion.chunk events
    check.py error FILE [PARAM]      an OpenAI error body {"error": {"message", "type", "param", "code"}}
                                      (PARAM: the param it must name)
    check.py models FILE ID VISION [MAX_MODEL_LEN]   a /v1/models body with one model ID, capabilities.vision
                                      VISION (true|false) and, when given, max_model_len MAX_MODEL_LEN
    check.py health FILE STATUS      a /health body for HTTP STATUS: 200 {"status":"ok"}, 503 {"status":"loading"}
    check.py get FILE KEY[.KEY...] [--json]   prints one value of a summary or JSON body (lists take integer
                                      keys; --json: as JSON)
    check.py body PROMPT MAX_TOKENS [EXTRA_JSON] [--image FILE]...   prints a greedy chat request: one user
                                      message PROMPT (after the images, as data: URIs of their files, the MIME
                                      type from the file name), max_tokens, temperature 0, EXTRA_JSON merged in
    check.py strip-vision SRC DST    writes DST/model.safetensors: SRC's without the model.visual.* tensors
    check.py same A B [KEY...]       the summaries A and B agree on KEYs (default: all four)
    check.py prefix SHORT LONG       the summary SHORT's content is a prefix of LONG's (and reasoning likewise)
    check.py stop-expect SUMMARY     prints STOP and EXPECTED_CONTENT (one JSON line): a stop string taken from
                                      the middle of SUMMARY's content and the content cut before it

completion and stream print, on success, one summary line (JSON, keys sorted):
    {"content": ..., "finish_reason": ..., "reasoning": ..., "usage": [prompt, completion, total]}
(reasoning "" when absent), so that run.sh compares a streamed and a whole answer, or two runs, as strings.
A failed check prints what is wrong (one line, on stdout) and exits 1; a bad command line exits 2.
"""

import json
import sys
import time


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def short(v, n=200):
    s = json.dumps(v, ensure_ascii=True) if not isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "..."


def load_json_bytes(raw, what):
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise Bad(f"{what} is not valid UTF-8 ({e})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Bad(f"{what} is not JSON ({e}): {short(text)}")


def read_json(path):
    with open(path, "rb") as f:
        return load_json_bytes(f.read(), "the body")


def valid_text(s, what):
    """s is a str that encodes as UTF-8 (JSON \\ud800 escapes decode to lone surrogates, which do not)."""
    need(isinstance(s, str), f"{what} is not a string: {short(s)}")
    try:
        s.encode("utf-8", errors="strict")
    except UnicodeEncodeError:
        raise Bad(f"{what} holds a lone surrogate (a split character?): {short(s)}")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_usage(u, what="usage"):
    need(isinstance(u, dict), f"{what} is not an object: {short(u)}")
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        need(is_int(u.get(k)) and u[k] >= 0, f"{what}.{k} is not a non-negative integer: {short(u)}")
    need(u["prompt_tokens"] > 0, f"{what}.prompt_tokens is 0")
    need(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"],
         f"{what}.total_tokens != prompt_tokens + completion_tokens: {short(u)}")
    return [u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]]


def check_created(v, what):
    need(is_int(v), f"{what} is not an integer: {short(v)}")
    need(abs(v - time.time()) < 86400, f"{what} is not a Unix time of today: {v}")


def check_finish(finish, completion_tokens, max_tokens):
    need(finish in ("stop", "length"), f"finish_reason is {short(finish)}, not \"stop\" or \"length\"")
    if max_tokens is not None:
        need(completion_tokens <= max_tokens, f"completion_tokens {completion_tokens} > max_tokens {max_tokens}")
        if finish == "length":
            need(completion_tokens == max_tokens,
                 f"finish_reason \"length\" after {completion_tokens} tokens, max_tokens {max_tokens}")


def summary(content, reasoning, finish, usage):
    return json.dumps({"content": content, "reasoning": reasoning, "finish_reason": finish, "usage": usage},
                      sort_keys=True, ensure_ascii=True)


def cmd_completion(path, max_tokens=None, no_reasoning=False):
    j = read_json(path)
    need(isinstance(j, dict), f"the body is not an object: {short(j)}")
    need("error" not in j, f"an error body: {short(j)}")
    need(j.get("object") == "chat.completion", f"object is {short(j.get('object'))}, not \"chat.completion\"")
    need(isinstance(j.get("id"), str) and j["id"], f"id is not a non-empty string: {short(j.get('id'))}")
    check_created(j.get("created"), "created")
    need(isinstance(j.get("model"), str) and j["model"], f"model is not a non-empty string: {short(j.get('model'))}")
    ch = j.get("choices")
    need(isinstance(ch, list) and len(ch) == 1, f"choices is not a list of one: {short(ch)}")
    c = ch[0]
    need(isinstance(c, dict) and c.get("index") == 0, f"choices[0].index is not 0: {short(c)}")
    m = c.get("message")
    need(isinstance(m, dict) and m.get("role") == "assistant", f"message.role is not \"assistant\": {short(m)}")
    valid_text(m.get("content"), "message.content")
    reasoning = ""
    if "reasoning_content" in m:
        valid_text(m["reasoning_content"], "message.reasoning_content")
        need(m["reasoning_content"] != "", "message.reasoning_content is present but empty")
        need(not no_reasoning, f"reasoning_content present with enable_thinking false: {short(m['reasoning_content'])}")
        reasoning = m["reasoning_content"]
    usage = check_usage(j.get("usage"))
    check_finish(c.get("finish_reason"), usage[1], max_tokens)
    print(summary(m["content"], reasoning, c["finish_reason"], usage))


def sse_events(raw):
    """The data: payloads of an SSE body (bytes), in order. Lines end in \\n or \\r\\n; events end in a blank
    line; comment lines (':') are allowed; any other line is an error."""
    text_lines = raw.split(b"\n")
    events, cur = [], []
    need(raw.endswith(b"\n\n") or raw.endswith(b"\r\n\r\n"), f"the stream does not end with a blank line: {short(raw[-80:].decode('latin-1'))}")
    for ln in text_lines:
        if ln.endswith(b"\r"):
            ln = ln[:-1]
        if ln == b"":
            if cur:
                events.append(b"\n".join(cur))
                cur = []
            continue
        if ln.startswith(b":"):
            continue
        need(ln.startswith(b"data: ") or ln.startswith(b"data:"), f"a line that is not 'data: ...': {short(ln.decode('latin-1'))}")
        cur.append(ln[6:] if ln.startswith(b"data: ") else ln[5:])
    need(not cur, "an event without its blank line at the end")
    return events


def cmd_stream(path, want_usage=False, max_tokens=None, no_reasoning=False):
    with open(path, "rb") as f:
        raw = f.read()
    need(raw, "an empty stream")
    events = sse_events(raw)
    need(events, "no data: events")
    need(events[-1] == b"[DONE]", f"the last event is not [DONE]: {short(events[-1].decode('latin-1'))}")
    need(events.count(b"[DONE]") == 1, "[DONE] more than once")
    chunks = [load_json_bytes(e, f"event {i}") for i, e in enumerate(events[:-1])]
    need(chunks, "no chunk before [DONE]")
    ids = set()
    content, reasoning = [], []
    finish = None
    usage = None
    n_choice_chunks = 0
    for i, k in enumerate(chunks):
        w = f"chunk {i}"
        need(isinstance(k, dict), f"{w} is not an object: {short(k)}")
        need("error" not in k, f"{w} is an error: {short(k)}")
        need(k.get("object") == "chat.completion.chunk", f"{w}: object is {short(k.get('object'))}")
        need(isinstance(k.get("id"), str) and k["id"], f"{w}: id is not a non-empty string")
        ids.add(k["id"])
        check_created(k.get("created"), f"{w}.created")
        need(isinstance(k.get("model"), str) and k["model"], f"{w}: model is not a non-empty string")
        ch = k.get("choices")
        need(isinstance(ch, list), f"{w}: choices is not a list: {short(k)}")
        if ch == []:
            need(want_usage, f"{w}: a usage chunk (choices []) without stream_options.include_usage: {short(k)}")
            need(usage is None, f"{w}: a second usage chunk")
            need(finish is not None, f"{w}: the usage chunk comes before the finish_reason")
            usage = check_usage(k.get("usage"), f"{w}.usage")
            continue
        need(usage is None, f"{w}: a choice chunk after the usage chunk")
        need(finish is None, f"{w}: a choice chunk after the one with finish_reason: {short(k)}")
        need(len(ch) == 1 and isinstance(ch[0], dict) and ch[0].get("index") == 0,
             f"{w}: choices is not one choice of index 0: {short(ch)}")
        if "usage" in k:
            need(k["usage"] is None, f"{w}: usage on a choice chunk: {short(k['usage'])}")
        d = ch[0].get("delta")
        need(isinstance(d, dict), f"{w}: delta is not an object: {short(ch[0])}")
        if n_choice_chunks == 0:
            need(d.get("role") == "assistant", f"the first delta has no role \"assistant\": {short(d)}")
        elif "role" in d:
            need(d["role"] == "assistant", f"{w}: delta.role is {short(d['role'])}")
        n_choice_chunks += 1
        for key, acc in (("content", content), ("reasoning_content", reasoning)):
            if key in d and d[key] is not None:
                valid_text(d[key], f"{w}: delta.{key}")
                acc.append(d[key])
        if no_reasoning:
            need(not d.get("reasoning_content"), f"{w}: reasoning_content with enable_thinking false: {short(d)}")
        fr = ch[0].get("finish_reason")
        if fr is not None:
            finish = fr
    need(len(ids) == 1, f"the chunks have {len(ids)} different ids")
    need(finish is not None, "no chunk has a finish_reason")
    if want_usage:
        need(usage is not None, "no usage chunk (choices []) with stream_options.include_usage")
        check_finish(finish, usage[1], max_tokens)
    else:
        need(finish in ("stop", "length"), f"finish_reason is {short(finish)}")
        usage = None
    print(summary("".join(content), "".join(reasoning), finish, usage))


def cmd_error(path, param=None):
    j = read_json(path)
    need(isinstance(j, dict) and isinstance(j.get("error"), dict), f"not an error body: {short(j)}")
    need(set(j) == {"error"}, f"keys beside \"error\": {short(sorted(j))}")
    e = j["error"]
    for k in ("message", "type", "param", "code"):
        need(k in e, f"error.{k} is missing: {short(e)}")
    need(isinstance(e["message"], str) and e["message"].strip(), f"error.message is not a non-empty string: {short(e)}")
    valid_text(e["message"], "error.message")
    need(isinstance(e["type"], str) and e["type"], f"error.type is not a non-empty string: {short(e)}")
    need(e["param"] is None or isinstance(e["param"], str), f"error.param is neither null nor a string: {short(e)}")
    need(e["code"] is None or isinstance(e["code"], (str, int)), f"error.code is not null, a string or an integer: {short(e)}")
    if param is not None:
        need(e["param"] == param, f"error.param is {short(e['param'])}, expected {short(param)} (message: {short(e['message'])})")
    print(e["message"])


def cmd_models(path, model_id, vision, max_len=None):
    j = read_json(path)
    need(isinstance(j, dict) and j.get("object") == "list", f"object is not \"list\": {short(j)}")
    d = j.get("data")
    need(isinstance(d, list) and len(d) == 1 and isinstance(d[0], dict), f"data is not a list of one model: {short(d)}")
    m = d[0]
    need(m.get("id") == model_id, f"id is {short(m.get('id'))}, expected {short(model_id)}")
    need(m.get("object") == "model", f"object is {short(m.get('object'))}, not \"model\"")
    need(m.get("owned_by") == "vlgraph", f"owned_by is {short(m.get('owned_by'))}, not \"vlgraph\"")
    need(is_int(m.get("max_model_len")) and m["max_model_len"] > 0, f"max_model_len is not a positive integer: {short(m)}")
    if max_len is not None:
        need(m["max_model_len"] == int(max_len), f"max_model_len is {m['max_model_len']}, expected {max_len}")
    caps = m.get("capabilities")
    need(isinstance(caps, dict) and isinstance(caps.get("vision"), bool), f"capabilities.vision is not a boolean: {short(m)}")
    need(caps["vision"] == (vision == "true"), f"capabilities.vision is {caps['vision']}, expected {vision}")
    print(m["max_model_len"])


def cmd_health(path, status):
    j = read_json(path)
    need(isinstance(j, dict), f"not an object: {short(j)}")
    want = {"200": "ok", "503": "loading"}.get(status)
    need(want is not None, f"HTTP {status}, expected 200 or 503")
    need(j.get("status") == want, f"HTTP {status} with status {short(j.get('status'))}, expected {want!r}")
    print(want)


def cmd_get(path, keys, as_json=False):
    with open(path, "rb") as f:
        v = load_json_bytes(f.read().strip().split(b"\n")[-1], "the input")
    for k in keys.split("."):
        try:
            v = v[int(k)] if isinstance(v, list) else v[k]
        except (KeyError, IndexError, ValueError, TypeError):
            raise Bad(f"no {keys} in {short(v)}")
    print(json.dumps(v) if as_json or isinstance(v, (dict, list)) else v)


def read_summary(path):
    with open(path, "rb") as f:
        return load_json_bytes(f.read().strip(), path)


def cmd_prefix(a, b):
    s, l = read_summary(a), read_summary(b)
    for k in ("content", "reasoning"):
        need(l[k].startswith(s[k]), f"{k} {short(s[k])} is not a prefix of {short(l[k])}")
    print("prefix")


def cmd_same(a, b, keys):
    x, y = read_summary(a), read_summary(b)
    for k in keys or ("content", "reasoning", "finish_reason", "usage"):
        need(x.get(k) == y.get(k), f"{k} differs: {short(x.get(k), 160)} vs {short(y.get(k), 160)}")
    print("same")


def cmd_stop_expect(path):
    s = read_summary(path)
    c = s["content"]
    # a 3-character stop string from the middle, without whitespace (stop strings are matched on the raw text,
    # and a whitespace-only string could be trimmed by either side)
    for k in range(max(1, len(c) // 3), len(c) - 3):
        stop = c[k:k + 3]
        if stop.strip() == stop and stop.isprintable():
            print(json.dumps({"stop": stop, "expect": c[:c.find(stop)]}, ensure_ascii=True))
            return
    raise Bad(f"setup: no stop string to take from the content {short(c)}")


def cmd_body(prompt, max_tokens, extra, images):
    import base64
    mime = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
    content = prompt
    if images:
        content = []
        for p in images:
            with open(p, "rb") as f:
                b64 = base64.b64encode(f.read()).decode("ascii")
            content.append({"type": "image_url",
                            "image_url": {"url": f"data:{mime[p.rsplit('.', 1)[-1].lower()]};base64,{b64}"}})
        content.append({"type": "text", "text": prompt})
    body = {"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": int(max_tokens),
            "temperature": 0}
    if extra:
        body.update(json.loads(extra))
    body = {k: v for k, v in body.items() if v is not None}  # "max_tokens": null in EXTRA drops it
    print(json.dumps(body))


def cmd_strip_vision(src, dst):
    """safetensors: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets
    [begin, end)}} (and __metadata__), then the data; the offsets must tile the data exactly, so the kept
    tensors are packed again in their order."""
    import struct
    with open(f"{src}/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kept = sorted(((k, v) for k, v in header.items() if k != "__metadata__" and not k.startswith("model.visual.")),
                  key=lambda kv: kv[1]["data_offsets"][0])
    need(len(kept) < len(header) - 1, "setup: no model.visual.* tensor to drop")
    out_header, parts, at = {}, [], 0
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    for k, v in kept:
        b, e = v["data_offsets"]
        parts.append(data[b:e])
        out_header[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [at, at + e - b]}
        at += e - b
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the data area 8-byte aligned, as the safetensors writer pads
    with open(f"{dst}/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(parts))
    print(f"{len(header) - 1 - len(kept)} vision tensors dropped, {len(kept)} kept")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    flags = {a for a in args if a.startswith("--")}
    opt_max = None
    if "--max-tokens" in args:
        i = args.index("--max-tokens")
        opt_max = int(args[i + 1])
        args = args[:i] + args[i + 2:]
    images = []
    while "--image" in args:
        i = args.index("--image")
        images.append(args[i + 1])
        args = args[:i] + args[i + 2:]
    pos = [a for a in args if not a.startswith("--")]
    try:
        if cmd == "completion":
            cmd_completion(pos[0], opt_max, "--no-reasoning" in flags)
        elif cmd == "stream":
            cmd_stream(pos[0], "--usage" in flags, opt_max, "--no-reasoning" in flags)
        elif cmd == "error":
            cmd_error(pos[0], pos[1] if len(pos) > 1 else None)
        elif cmd == "models":
            cmd_models(*pos[:4])
        elif cmd == "health":
            cmd_health(pos[0], pos[1])
        elif cmd == "get":
            cmd_get(pos[0], pos[1], "--json" in flags)
        elif cmd == "body":
            cmd_body(pos[0], pos[1], pos[2] if len(pos) > 2 else None, images)
        elif cmd == "strip-vision":
            cmd_strip_vision(pos[0], pos[1])
        elif cmd == "prefix":
            cmd_prefix(pos[0], pos[1])
        elif cmd == "same":
            cmd_same(pos[0], pos[1], pos[2:])
        elif cmd == "stop-expect":
            cmd_stop_expect(pos[0])
        else:
            print(f"check.py: unknown command {cmd}", file=sys.stderr)
            return 2
    except Bad as e:
        print(str(e))
        return 1
    except (OSError, IndexError, ValueError) as e:
        print(f"check.py {cmd}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
