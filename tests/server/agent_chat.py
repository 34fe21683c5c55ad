#!/usr/bin/env python3
"""tests/server/agent_chat.py — a multi-turn agent conversation through the official `openai` client, against
a server with the prefix cache and one without (`--prefix-cache-mb 0`), both `--prefill-chunk 16`.

    tests/server/agent_chat.py VLGRAPH_CLI MODEL_DIR

Exit 77 (CTest: skipped) when `import openai` fails. The conversation: a system prompt and tools, a user turn
with an image, an assistant tool call forced by tool_choice (its arguments as the model writes them), the
tool's result, the model's answer, a follow-up question, an answer with tool_choice "auto" (streamed) and a
last question with tool_choice "none". Every turn is greedy and sent to both servers; checks:
  - each turn's answer (content, reasoning, tool calls, finish reason) is the same on both servers;
  - the forced turn returns one call of the named function with JSON-object arguments, finish "tool_calls"
    or "length", content null, and streamed deltas that put together equal the whole call;
  - every turn after the first reports cached_tokens > 0 on the caching server, a multiple of 16 and less
    than its prompt tokens, and 0 on the other; the caching server saves prefill over the conversation.
Each check prints PASS/FAIL; exit 0 only when all pass.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_proc import Server, ServerError, check, data_uri, failures, images_dir, import_openai  # noqa: E402

openai = import_openai()


TOOLS = [{"type": "function", "function": {"name": "describe_region", "description": "Describe a region of the image.",
                                           "parameters": {"type": "object", "properties": {
                                               "x": {"type": "integer"}, "y": {"type": "integer"},
                                               "label": {"type": "string"}}, "required": ["x", "y"]}}},
         {"type": "function", "function": {"name": "search", "description": "Search the web.",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]


def answer(client, model, messages, **kw):
    r = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, temperature=0, max_tokens=24, **kw)
    m = r.choices[0].message
    calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in (m.tool_calls or [])]
    reasoning = getattr(m, "reasoning_content", None) or (m.model_extra or {}).get("reasoning_content")
    return {"content": m.content, "reasoning": reasoning, "calls": calls, "finish": r.choices[0].finish_reason,
            "prompt": r.usage.prompt_tokens, "cached": (r.usage.prompt_tokens_details.cached_tokens if r.usage.prompt_tokens_details else 0)}


def streamed(client, model, messages, **kw):
    content, calls, finish = "", {}, None
    for ch in client.chat.completions.create(model=model, messages=messages, tools=TOOLS, temperature=0, max_tokens=24, stream=True, **kw):
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        content += d.content or ""
        for c in d.tool_calls or []:
            e = calls.setdefault(c.index, {"name": "", "arguments": ""})
            if c.function and c.function.name:
                e["name"] = c.function.name
            if c.function and c.function.arguments:
                e["arguments"] += c.function.arguments
        finish = ch.choices[0].finish_reason or finish
    return content, [calls[i] for i in sorted(calls)], finish


def as_message(a):
    m = {"role": "assistant", "content": a["content"] or ""}
    if a["reasoning"]:
        m["reasoning_content"] = a["reasoning"]
    if a["calls"]:
        m["tool_calls"] = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in a["calls"]]
    return m


def main():
    if len(sys.argv) != 3:
        print("usage: agent_chat.py VLGRAPH_CLI MODEL_DIR", file=sys.stderr)
        return 2
    cli, model = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    name = os.path.basename(model)
    image = data_uri(os.path.join(images_dir(), "img_a_128x160.png"))
    servers = []
    try:
        for extra in (["--prefix-cache-mb", "64"], ["--prefix-cache-mb", "0"]):
            s = Server(cli, model, ["--threads", "1", "--prefill-chunk", "16"] + extra)
            s.start()
            servers.append(s)
    except ServerError as e:
        print(f"FAIL start: {e}")
        return 1
    try:
        cached, plain = (openai.OpenAI(base_url=s.base_url + "/v1", api_key="none", max_retries=0, timeout=120) for s in servers)
        chat = [{"role": "system", "content": "You are a visual agent. Use the tools when they help."},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}},
                                             {"type": "text", "text": "What is in the top-left corner?"}]}]
        turns = [("forced_call", {"tool_choice": {"type": "function", "function": {"name": "describe_region"}}}),
                 ("after_tool_result", {}), ("follow_up", {}), ("tools_none", {"tool_choice": "none"})]
        saved = 0
        for k, (turn, kw) in enumerate(turns):
            if turn == "after_tool_result":
                chat.append({"role": "tool", "tool_call_id": "call_x", "content": json.dumps({"region": "a red square", "confidence": 0.9})})
            if turn == "follow_up":
                chat.append({"role": "user", "content": "And the bottom-right one?"})
            if turn == "tools_none":
                chat.append({"role": "user", "content": "Summarise without tools."})
            a, b = answer(cached, name, chat, **kw), answer(plain, name, chat, **kw)
            same = {x: a[x] for x in ("content", "reasoning", "finish")} == {x: b[x] for x in ("content", "reasoning", "finish")} and \
                [(c["name"], c["arguments"]) for c in a["calls"]] == [(c["name"], c["arguments"]) for c in b["calls"]]
            check(f"{turn}_same_answer", same, f"with and without the cache: {a} vs {b}")
            check(f"{turn}_cache_off", b["cached"] == 0, f"the cache-less server reports 0 cached tokens (got {b['cached']})")
            if k > 0:
                check(f"{turn}_cached", 0 < a["cached"] < a["prompt"] and a["cached"] % 16 == 0,
                      f"{a['cached']} of {a['prompt']} prompt tokens from the cache")
            saved += a["cached"]
            if turn == "forced_call":
                ok = len(a["calls"]) == 1 and a["calls"][0]["name"] == "describe_region" and a["content"] is None \
                    and isinstance(json.loads(a["calls"][0]["arguments"]), dict) and a["finish"] in ("tool_calls", "length")
                check("forced_call_shape", ok, f"one describe_region call with JSON-object arguments: {a}")
                content, calls, finish = streamed(cached, name, chat, **kw)
                check("forced_call_streamed", content == "" and [(c["name"], c["arguments"]) for c in calls] ==
                      [(c["name"], c["arguments"]) for c in a["calls"]] and finish == a["finish"],
                      f"streamed deltas = the whole call: {calls} {finish}")
            if turn == "tools_none":
                check("tools_none_no_calls", not a["calls"], "tool_choice none: no tool calls")
            chat.append(as_message(a))
        check("prefill_saved", saved > 0, f"{saved} prompt tokens not computed again over the conversation")
    except openai.APIError as e:
        check("api", False, f"{type(e).__name__}: {e}")
    finally:
        for s in servers:
            s.stop()
    print(f"{'FAIL' if failures else 'PASS'}: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
