#!/usr/bin/env python3
"""Extra golden data for the C++ chat template renderer (models/qwen36/chat.hpp + include/vlgraph/text/jinja/).

Writes tests/data/golden/chat_template_extra.json with two lists:
  * "cases": conversations rendered by the tiny checkpoint's processor
    (`processor.apply_chat_template(messages, tokenize=False, **kwargs)`, the real Qwen3.6 template) covering the
    reasoning rules, trim (incl. Unicode whitespace), interleaved images, aliases of reasoning_content and the
    template's own errors (`error` = the message HF raises). Image cases also carry `tokens_per_image` (from
    image_grid_thw) and `expanded` = the processor's input_ids decoded back to text, i.e. the prompt after
    <|image_pad|> expansion (asserted to re-tokenise to the same ids).
  * "jinja": small templates exercising the Jinja2 features the interpreter implements (whitespace control,
    scoping, macros, slices, string methods, tests), rendered with the environment transformers uses
    (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks) and the given variables.

Run after make_tiny.py / dump_goldens.py:  python3.11 tools/reference/dump_chat_extra.py   (deterministic, ~2 s)
"""
import json
import os

from jinja2.sandbox import ImmutableSandboxedEnvironment
from PIL import Image
from transformers import AutoProcessor

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(REPO, "tests", "data")
CKPT = os.path.join(DATA, "tiny-qwen36")
OUT = os.path.join(DATA, "golden", "chat_template_extra.json")

A = "images/img_a_128x160.png"
B = "images/img_b_96x64.png"
C = "images/img_c_125x94.png"


def text(t):
    return {"type": "text", "text": t}


def image(path):
    return {"type": "image", "image": path}


def chat_cases():
    u = lambda c: {"role": "user", "content": c}  # noqa: E731
    a = lambda c, **kw: {"role": "assistant", "content": c, **kw}  # noqa: E731
    return [
        ("reasoning_after_last_query_kept",
         [u("Q1"), a("A1", reasoning_content="R1"), u("Q2"), a("A2", reasoning_content="R2"),
          a("A3", reasoning_content="R3")], {"add_generation_prompt": False}),
        ("think_tags_in_content",
         [u("Q"), a("<think>\nfirst\n</think>\n\n<think>second</think>\n\n\nfinal")], {}),
        ("close_tag_only_in_content", [u("Q"), a("abc</think>\n\ndef")], {"add_generation_prompt": False}),
        ("reasoning_whitespace_trimmed", [u("Q"), a("  answer \n", reasoning_content="\n\n  r  \n")], {}),
        ("empty_reasoning_after_query", [u("Q"), a("A", reasoning_content="")], {"add_generation_prompt": False}),
        ("no_reasoning_after_query", [u("Q"), a("plain")], {"add_generation_prompt": False}),
        ("reasoning_beats_think_in_content", [u("Q"), a("<think>x</think>y", reasoning_content="R")],
         {"add_generation_prompt": False}),
        ("preserve_no_thinking",
         [{"role": "system", "content": "S"}, u("Q1"), a("<think>\nold\n</think>\n\nA1"), u("Q2")],
         {"preserve_thinking": True, "enable_thinking": False}),
        ("preserve_false_explicit", [u("Q1"), a("A1", reasoning_content="R1"), u("Q2")], {"preserve_thinking": False}),
        ("reasoning_alias_thinking", [u("Q"), a("A", thinking="via thinking")], {"add_generation_prompt": False}),
        ("reasoning_alias_reasoning", [u("Q"), a("A", reasoning="via reasoning")], {"add_generation_prompt": False}),
        ("unicode_whitespace_trim",
         [{"role": "system", "content": "\u3000 sys \u00a0"}, u("\u2028\x1c hi \u3000\u2003"), a("\u200a ok \x85")],
         {}),
        ("unicode_text", [u("naïve café — 你好 🚀 e\u0301 \u0645\u0631\u062d\u0628\u0627")], {"enable_thinking": False}),
        ("empty_user_content", [u("")], {}),
        ("system_list_content", [{"role": "system", "content": [text(" A "), text("B ")]}, u([text("x"), text("y")])],
         {}),
        ("tool_response_like_user_skipped",
         [u("real question"), a("A1", reasoning_content="R1"), u("<tool_response>\nout\n</tool_response>"),
          a("A2", reasoning_content="R2")], {"add_generation_prompt": False}),
        ("no_gen_prompt_thinking_off", [u("Q")], {"add_generation_prompt": False, "enable_thinking": False}),
        ("images_interleaved_trim",
         [u([text(" \n lead "), image(A), text("mid"), image(B), image(C), text(" tail \n")])], {}),
        ("image_only", [u([image(B)])], {"enable_thinking": False}),
        ("images_across_turns_vision_id",
         [{"role": "system", "content": "S"}, u([image(C), text("one")]), a("A", reasoning_content="R"),
          u([text("two"), image(A)]), a([text("see "), image(B)]), u([image(B), image(A), text("three")])],
         {"add_vision_id": True, "preserve_thinking": True}),
        ("error_no_user_query", [{"role": "system", "content": "S"}, a("A")], {}),
        ("error_only_tool_response_users", [u("<tool_response>x</tool_response>")], {}),
    ]


# Small templates for the interpreter's Jinja2 features; variables are JSON.
JINJA_CASES = [
    ("whitespace_control",
     "a  \n  {% if x %}\n    yes\n  {% endif %}\nb {{- ' c ' -}} d\n{%- if x -%}  e  {%- endif -%}\n"
     "  {%+ if x %}f{% endif +%}\ng{# c #}\n  {# c2 -#}  h  \n", {"x": True}),
    ("crlf_and_trailing_newline", "l1\r\n{% if x %}\r\nl2\rl3{% endif %}\n\n", {"x": 1}),
    ("scoping",
     "{% set v = 'outer' %}{% for i in xs %}{% set v = i %}{{ v }}{% endfor %}|{{ v }}|"
     "{% set ns = namespace(n=0, s='') %}{% for i in xs %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}"
     "{% endfor %}{{ ns.n }} {{ ns.s }}|{% if true %}{% set w = 'if-set' %}{% endif %}{{ w }}", {"xs": [1, 2, 3]}),
    ("loop_variables",
     "{% for x in xs %}[{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
     "{{ loop.revindex }}{{ loop.revindex0 }} {{ loop.previtem }}/{{ loop.nextitem }}]{% endfor %}"
     "{% for x in [] %}never{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for a, b in [[1, 2], ['x', 'y']] %}"
     "{{ a }}{{ b }}{% endfor %}", {"xs": ["a", "b", "c"], "d": {"k1": 1, "k2": 2}}),
    ("macros",
     "{% macro m(a, b='B', c=none) %}<{{ a }}{{ b }}{{ c }}{{ g }}>{% endmacro %}{% set g = 'G' %}"
     "{{ m(1) }}{{ m(1, 2) }}{{ m('x', c=3) }}{{ m(b='kw', a='y') }}{{ m(1)|length }}{{ m(' t ')|trim }}", {}),
    ("slices_and_indexing",
     "{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-2:] }}|{{ s[:-1] }}|{{ s[::2] }}|{{ s[5:1:-2] }}|{{ s[0] }}{{ s[-1] }}|"
     "{% for x in xs[::-1] %}{{ x }}{% endfor %}|{{ xs[1] }}{{ xs[-1] }}|{{ xs[9] is defined }}|{{ xs[1:]|length }}"
     "|{{ u[1:3] }}{{ u|length }}", {"s": "abcdefg", "xs": [1, 2, 3], "u": "é你🚀x"}),
    ("string_methods",
     "{{ s.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}|{{ s.split('</think>')|length }}|"
     "{{ s.startswith('<think>') }}{{ s.endswith('tail') }}|{{ ' \\u3000x\\t '.strip() }}|{{ 'xxaxx'.strip('x') }}|"
     "{{ 'a,b,,c'.split(',')|length }}|{{ ' p '.lstrip() }}.{{ ' p '.rstrip() }}.",
     {"s": "<think>\n\nr\n</think>\n\ntail"}),
    ("operators_and_tests",
     "{% set u = d.missing %}"  # an undefined value (vlgraph refuses names that are never set)
     "{{ 1 + 2 * 3 - 4 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 'a' ~ 1 ~ none ~ true ~ u }} {{ 'a' + 'b' }}|"
     "{{ 'b' in 'abc' }}{{ 'k' in d }}{{ 2 in [1, 2] }}{{ 'z' not in 'abc' }}{{ 1 == true }}{{ 'a' < 'b' }}{{ 3 >= 3 }}|"
     "{{ u is defined }}{{ u is undefined }}{{ n is none }}{{ s is string }}{{ 1 is number }}{{ d is mapping }}"
     "{{ xs is iterable }}{{ d is iterable }}{{ 1 is iterable }}{{ u is iterable }}{{ t is true }}{{ 1 is true }}"
     "{{ f is false }}{{ s is not string }}{{ xs is sequence }}|{{ (s if t else 'no') }}{{ 'y' if f else 'n' }}"
     "{{ 'z' if f }}|{{ not t or s }}{{ t and 0 }}{{ d.k }}{{ d['k'] }}{{ d.missing is defined }}{{ n.x is defined }}"
     "|{{ u }}{{ u|length }}{{ u|trim }}{{ 'x' in u }}{% for i in u %}never{% endfor %}|{{ -(1) }}"
     "{{ [1, 'a'] == [1, 'a'] }}{{ xs + [2] == [1, 2] }}{{ -1|string if false else 'neg' }}",
     {"s": "str", "n": None, "d": {"k": "v"}, "xs": [1], "t": True, "f": False}),
]


def plain(msgs):
    """Message content with image paths made absolute (the processor loads the images)."""
    res = []
    for m in msgs:
        m = dict(m)
        if isinstance(m["content"], list):
            m["content"] = [dict(it, image=os.path.join(DATA, it["image"])) if it.get("type") == "image" else it
                            for it in m["content"]]
        res.append(m)
    return res


def main():
    proc = AutoProcessor.from_pretrained(CKPT)
    merge = proc.image_processor.merge_size
    cases = []
    for name, msgs, kw in chat_cases():
        case = {"name": name, "messages": msgs, "kwargs": kw}
        try:
            case["rendered"] = proc.apply_chat_template(plain(msgs), tokenize=False, **kw)
        except Exception as e:  # the template's raise_exception
            case["error"] = str(e)
            cases.append(case)
            continue
        images = [os.path.join(DATA, it["image"]) for m in msgs if isinstance(m["content"], list)
                  for it in m["content"] if it.get("type") == "image"]
        if images:
            enc = proc(text=[case["rendered"]], images=[Image.open(p) for p in images], return_tensors="pt")
            ids = enc["input_ids"][0].tolist()
            expanded = proc.tokenizer.decode(ids, skip_special_tokens=False)
            assert proc.tokenizer(expanded, add_special_tokens=False)["input_ids"] == ids, name
            case["tokens_per_image"] = [t * h * w // (merge * merge) for t, h, w in enc["image_grid_thw"].tolist()]
            case["expanded"] = expanded
        cases.append(case)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    jinja = [{"name": name, "template": src, "vars": variables, "rendered": env.from_string(src).render(**variables)}
             for name, src, variables in JINJA_CASES]

    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"template": "tests/data/tiny-qwen36/chat_template.jinja",
                   "note": "cases: rendered = processor.apply_chat_template(messages, tokenize=False, **kwargs) (image "
                           "paths relative to tests/data), error = what HF raises, expanded = processor input_ids "
                           "decoded; jinja: ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks) renders",
                   "cases": cases, "jinja": jinja}, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
