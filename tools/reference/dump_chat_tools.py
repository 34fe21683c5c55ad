#!/usr/bin/env python3
"""Golden renders of the real Qwen3.6 chat template with tools, tool calls and tool results, for the C++
renderer (models/qwen36/chat.hpp + include/vlgraph/text/jinja/).

Writes tests/data/golden/chat_template_tools.json: {"versions", "cases": [{name, messages, kwargs, rendered |
error}], "jinja": [{name, template, vars, rendered}]}. "cases" are rendered by
`AutoTokenizer.from_pretrained(tiny).apply_chat_template(messages, tools=..., tokenize=False, **kwargs)`
(tokenizer only: no torch needed); JSON key order is kept (json.dump keeps dict order, the C++ test reads
it with nlohmann::ordered_json). "jinja" are small templates for tojson / items / string / safe / floats,
rendered with transformers' own environment (its tojson override included) via its _compile_jinja_template.

Run:  python3 tools/reference/dump_chat_tools.py   (deterministic, ~2 s; transformers and tokenizers only)
"""
import json
import os

import jinja2
import tokenizers
import transformers
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import _compile_jinja_template

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
CKPT = os.path.join(DATA, "tiny-qwen36")
OUT = os.path.join(DATA, "golden", "chat_template_tools.json")


def fn(name, description, properties, required=None):
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": {"type": "object", "properties": properties,
                                                            "required": required or []}}}


WEATHER = fn("get_weather", "Current weather for a city.",
             {"city": {"type": "string", "description": "City name, e.g. \"São Paulo\""},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
              "days": {"type": "integer", "minimum": 1, "maximum": 14}}, ["city"])
SEARCH = fn("search_files", "Search the repository.\nReturns at most `limit` matches; regex in \\w syntax.",
            {"pattern": {"type": "string"}, "limit": {"type": "integer", "default": 100},
             "threshold": {"type": "number", "default": 0.5, "minimum": 1e-05, "maximum": 100.0},
             "flags": {"type": "array", "items": {"type": "string", "enum": ["i", "m"]}},
             "options": {"type": "object", "properties": {"hidden": {"type": "boolean", "default": False},
                                                          "depth": {"type": ["integer", "null"], "default": None}}},
             "big": {"type": "integer", "default": 9007199254740993}}, ["pattern"])
SHELL = fn("run_shell", "Run a command <safely> & return 'stdout'.", {"command": {"type": "string"}}, ["command"])
NO_PARAMS = {"type": "function", "function": {"name": "now", "description": "The time now — in UTC ⏰"}}

U = lambda c: {"role": "user", "content": c}  # noqa: E731
SYS = lambda c: {"role": "system", "content": c}  # noqa: E731
TOOL = lambda c, **kw: {"role": "tool", "content": c, **kw}  # noqa: E731


def A(content, calls=None, **kw):
    m = {"role": "assistant", "content": content, **kw}
    if calls is not None:
        m["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                           for i, (n, a) in enumerate(calls)]
    return m


def cases():
    w = [("get_weather", {"city": "Paris", "unit": "celsius"})]
    return [
        ("tools_only_generation_prompt", [U("Weather in Paris?")], {"tools": [WEATHER]}),
        ("tools_with_system", [SYS("You are terse."), U("Hi")], {"tools": [WEATHER, SEARCH]}),
        ("tools_system_list_content", [SYS([{"type": "text", "text": "  Be exact. "}]), U("Hi")], {"tools": [SHELL, NO_PARAMS]}),
        ("tools_empty_system", [SYS("   "), U("Hi")], {"tools": [WEATHER]}),
        ("single_call_and_result", [U("Weather in Paris?"), A("", w), TOOL("{\"temp\": 21}", tool_call_id="call_0")],
         {"tools": [WEATHER]}),
        ("content_before_call", [U("Weather?"), A("Let me check that.", w), TOOL("sunny")], {"tools": [WEATHER]}),
        ("parallel_calls_and_results",
         [U("Paris and Rome?"), A("", [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome", "days": 3})]),
          TOOL("{\"temp\": 21}"), TOOL("{\"temp\": 25}"), A("Paris 21, Rome 25."), U("Thanks!")],
         {"tools": [WEATHER]}),
        ("typed_arguments",
         [U("Find TODOs"),
          A("", [("search_files", {"pattern": "TODO\\(.*\\)\n", "limit": 5, "threshold": 0.25, "flags": ["i", "m"],
                                   "options": {"hidden": True, "depth": None}, "big": 12345678901234,
                                   "note": "multi\nline \"quoted\" ünïcode"})]),
          TOOL("a.cpp:1: TODO(x)")], {"tools": [SEARCH]}),
        ("reasoning_and_call_after_last_query",
         [U("Weather?"), A("", w, reasoning_content="The user wants weather.\nCall the tool."), TOOL("sunny")],
         {"tools": [WEATHER], "add_generation_prompt": True}),
        ("reasoning_dropped_before_last_query",
         [U("Weather?"), A("", w, reasoning_content="Need the tool."), TOOL("sunny"), A("Sunny.", reasoning_content="Done."),
          U("And tomorrow?")], {"tools": [WEATHER], "add_generation_prompt": True}),
        ("preserve_thinking_agent",
         [SYS("Agent."), U("Weather?"), A("", w, reasoning_content="Need the tool."), TOOL("sunny"),
          A("Sunny.", reasoning_content="Done."), U("And tomorrow?")],
         {"tools": [WEATHER], "add_generation_prompt": True, "preserve_thinking": True}),
        ("thinking_off", [U("Run ls"), A("", [("run_shell", {"command": "ls -la"})]), TOOL("a\nb")],
         {"tools": [SHELL], "add_generation_prompt": True, "enable_thinking": False}),
        ("tool_result_list_content", [U("Run ls"), A("", [("run_shell", {"command": "ls"})]),
                                      TOOL([{"type": "text", "text": "  a b  "}])], {"tools": [SHELL], "add_generation_prompt": True}),
        ("no_arguments_call", [U("Time?"), A("", [("now", {})]), TOOL("12:00")], {"tools": [NO_PARAMS], "add_generation_prompt": True}),
        ("calls_without_tools_kwarg", [U("Weather?"), A("ok", w), TOOL("sunny"), U("more")], {"add_generation_prompt": True}),
        ("think_in_content_with_call",
         [U("Weather?"), A("<think>\nplan\n</think>\n\nChecking.", w), TOOL("sunny")], {"tools": [WEATHER], "add_generation_prompt": True}),
        ("multi_turn_agent",
         [SYS("You are a coding agent."), U("Fix the build."),
          A("", [("run_shell", {"command": "make"})], reasoning_content="Build first."), TOOL("error: x.cpp:3"),
          A("", [("search_files", {"pattern": "x", "limit": 1})]), TOOL("x.cpp:3: int x"),
          A("Fixed: x was undeclared.", reasoning_content="Found it."), U("Run the tests too."),
          A("", [("run_shell", {"command": "ctest"})]), TOOL("100% tests passed")],
         {"tools": [SHELL, SEARCH], "add_generation_prompt": True}),
        ("tool_only_messages_error", [U("<tool_response>\nx\n</tool_response>")], {"tools": [WEATHER]}),
    ]


JINJA_CASES = [
    ("tojson_scalars_and_nesting",
     "{{ x|tojson }}|{{ s|tojson }}|{{ n|tojson }}|{{ b|tojson }}|{{ f|tojson }}|{{ d|tojson }}|{{ l|tojson }}",
     {"x": 3, "s": "q\"\\\n\t\u0001é—<&>'", "n": None, "b": True, "f": 0.1, "d": {"z": 1, "a": [1.5, {"k": None}]}, "l": []}),
    ("floats_printed_as_python",
     "{% for v in fs %}{{ v }} {{ v|tojson }};{% endfor %}",
     {"fs": [0.5, 2.0, 100.0, 1e-05, 0.0001, 1e16, 1.5e16, 123456789.125, -0.0, 3.141592653589793, 1e+300, 2.5e-300]}),
    ("items_and_unpacking", "{% for k, v in d|items %}{{ k }}={{ v|tojson }},{% endfor %}{% for k, v in e|items %}x{% endfor %}",
     {"d": {"b": 1, "a": "x", "c": [1, 2]}, "e": {}}),
    ("string_and_safe",
     "{{ v|string }}|{{ 1|string }}|{{ none|string }}|{{ true|string }}|{{ h|string }}|{{ s|safe }}|"
     "{% for v in vs %}{{ v | string if v is string else v | tojson | safe }};{% endfor %}",
     {"v": "txt", "h": 0.5, "s": "<b>", "vs": ["a", 1, {"k": "v"}, [1, "2"], None, 2.5]}),
    ("number_tests_and_equality", "{{ f is number }}{{ f == h }}{{ i == g }}{{ f is string }}{{ f is iterable }}{{ f == i }}",
     {"f": 0.5, "h": 0.5, "i": 2, "g": 2.0}),
]


def main():
    tok = AutoTokenizer.from_pretrained(CKPT)
    out = {"versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "jinja2": jinja2.__version__},
           "cases": [], "jinja": []}
    for name, messages, kwargs in cases():
        kw = dict(kwargs)
        tools = kw.pop("tools", None)
        kw.setdefault("add_generation_prompt", False)
        entry = {"name": name, "messages": messages, "kwargs": dict(kwargs, add_generation_prompt=kw["add_generation_prompt"])}
        try:
            entry["rendered"] = tok.apply_chat_template(messages, tools=tools, tokenize=False, **kw)
        except Exception as e:  # the template's own raise_exception
            entry["error"] = str(e)
        out["cases"].append(entry)
    for name, template, variables in JINJA_CASES:
        out["jinja"].append({"name": name, "template": template, "vars": variables,
                             "rendered": _compile_jinja_template(template).render(**variables)})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(out['cases'])} cases, {len(out['jinja'])} jinja")


if __name__ == "__main__":
    main()
