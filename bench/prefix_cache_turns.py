#!/usr/bin/env python3
"""bench/prefix_cache_turns.py — how much of each prompt of an agent conversation the prefix cache saves,
with and without chat_template_kwargs.preserve_thinking.

    bench/prefix_cache_turns.py VLGRAPH_CLI MODEL_DIR [--prefill-chunk 256]

The transcript is scripted (the same whatever the model writes): a system prompt and 3 tools, a coding task,
5 rounds of reasoning + tool call + tool result, an answer, a second user message and 3 more rounds, an
answer. Every request (the conversation so far, max_tokens 1) goes to one server with the prefix cache;
per request it prints prompt_tokens and cached_tokens, then the totals: the share of prompt tokens that came
from the cache and the prefill saved. Standard library only (urllib).
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "server"))
from serve_proc import Server  # noqa: E402

TOOLS = [
    {"type": "function", "function": {"name": "run_shell", "description": "Run a shell command in the repository and return its output.",
                                      "parameters": {"type": "object", "properties": {"command": {"type": "string"},
                                                                                      "timeout_s": {"type": "integer", "default": 60}},
                                                     "required": ["command"]}}},
    {"type": "function", "function": {"name": "read_file", "description": "Read a file of the repository.",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"},
                                                                                      "first_line": {"type": "integer"},
                                                                                      "last_line": {"type": "integer"}},
                                                     "required": ["path"]}}},
    {"type": "function", "function": {"name": "edit_file", "description": "Replace a unique string in a file.",
                                      "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "old": {"type": "string"},
                                                                                      "new": {"type": "string"}},
                                                     "required": ["path", "old", "new"]}}},
]


def transcript():
    """(messages so far) before each request the agent makes."""
    msgs = [{"role": "system", "content": "You are a careful coding agent working in a C++ repository. Use the tools; "
                                          "explain briefly what you changed."},
            {"role": "user", "content": "The build fails after the last merge. Find out why and fix it, then run the tests."}]
    steps = []

    def rounds(k0, n):
        for k in range(k0, k0 + n):
            steps.append([dict(m) for m in msgs])
            name, args = [("run_shell", {"command": f"cmake --build build -j2 2>&1 | tail -n {20 + k}"}),
                          ("read_file", {"path": f"src/module_{k}.cpp", "first_line": 10 * k, "last_line": 10 * k + 40}),
                          ("edit_file", {"path": f"src/module_{k}.cpp", "old": f"int value_{k} = 0;", "new": f"long value_{k} = 0;"})][k % 3]
            msgs.append({"role": "assistant", "content": "", "reasoning_content": f"Step {k}: the error points at module {k}; "
                         f"I should look at {name} output before changing anything.",
                         "tool_calls": [{"id": f"call_{k}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]})
            msgs.append({"role": "tool", "tool_call_id": f"call_{k}",
                         "content": "\n".join(f"src/module_{k}.cpp:{10 * k + i}: note: line {i} of the output" for i in range(4))})

    rounds(0, 5)
    steps.append([dict(m) for m in msgs])
    msgs.append({"role": "assistant", "content": "The build failed because value_3 overflowed; it is a long now and the build passes.",
                 "reasoning_content": "All modules compile; summarise."})
    msgs.append({"role": "user", "content": "Thanks. Now make the tests pass as well, and tell me which ones failed."})
    rounds(5, 3)
    steps.append([dict(m) for m in msgs])
    return steps


def post(base, body):
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"HTTP {e.code}: {e.read().decode(errors='replace')[:400]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("model")
    ap.add_argument("--prefill-chunk", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    steps = transcript()
    for preserve in (False, True):
        with Server(os.path.realpath(a.cli), os.path.realpath(a.model),
                    ["--threads", str(a.threads), "--prefill-chunk", str(a.prefill_chunk), "--prefix-cache-mb", "4096"]) as s:
            total = cached = 0
            rows = []
            for i, messages in enumerate(steps):
                u = post(s.base_url, {"messages": messages, "tools": TOOLS, "max_tokens": 1, "temperature": 0,
                                      "chat_template_kwargs": {"preserve_thinking": preserve}})["usage"]
                p, c = u["prompt_tokens"], u["prompt_tokens_details"]["cached_tokens"]
                total, cached = total + p, cached + c
                rows.append(f"{i:>3} {p:>7} {c:>7} {100.0 * c / p:6.1f} %")
            print(f"preserve_thinking={str(preserve).lower()}, --prefill-chunk {a.prefill_chunk}: request, prompt tokens, cached, share")
            print("\n".join(rows))
            print(f"total: {cached} of {total} prompt tokens from the cache ({100.0 * cached / total:.1f} %), "
                  f"{total - cached} computed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
