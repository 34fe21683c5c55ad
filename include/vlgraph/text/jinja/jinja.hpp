// vlgraph/text/jinja/jinja.hpp — a small, strict interpreter for the subset of Jinja2 that HF chat templates
// use (the engine behind vl::qwen36::chat_template; split into value.hpp, lexer.hpp, parser.hpp, renderer.hpp).
//
// Why an interpreter and not a native renderer: running the checkpoint's own chat_template.jinja is what
// HF apply_chat_template does, so template revisions (Qwen3.5 vs 3.6 `preserve_thinking`, fixes in later
// uploads) render exactly as HF renders them with no per-revision code here. The risk of an interpreter is
// rendering something subtly different from Jinja2; that is contained by being *strict*: every construct,
// filter, test, method or variable outside the supported subset is a vl::error naming it, never a guess.
//
// Semantics follow Jinja2 3.1 as configured by transformers (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, keep_trailing_newline false, autoescape off):
//  * whitespace control `{%-`/`-%}` (strip all whitespace), `+` modifiers, lstrip_blocks (spaces/tabs before a
//    block tag on its own line), trim_blocks (one newline after a block tag); `\r\n` and `\r` become `\n`;
//  * statements: if/elif/else, for (one target; `loop.index0/index/first/last/length/previtem/nextitem`), set
//    (name or namespace attribute), macro (positional parameters with defaults), comments;
//  * expressions: string/integer/boolean/none literals, list literals, names, `.attr` and `[key]` (a dict key or
//    a list/string index), Python slices, calls of macros, `namespace(...)`, `raise_exception(msg)` and the string
//    methods startswith/endswith/split(sep)/strip/lstrip/rstrip, filters trim/length/tojson (transformers' json.dumps)/items/string/safe, tests
//    defined/undefined/none/string/number/mapping/iterable/sequence/true/false, `not and or`, `== != < <= > >=`,
//    `in`/`not in`, `+ - * // %` on integers, `+` on strings and lists, `~`, and `a if c else b`;
//  * Jinja2's default Undefined: a missing key or attribute is undefined (prints as '', is falsy, iterates empty,
//    `is defined` false); any other use of it (attribute, arithmetic, ordering) is an error as in Jinja2.
// Stricter than Jinja2 on purpose: a variable that is neither set by the template nor passed in is an error
// (Jinja2 would render '' — e.g. a revision reading `bos_token`, which vlgraph does not pass, must not render
// wrongly); strings must be valid UTF-8 (Python strings are code points: len/strip/slices work on those).
// Resource bounds make hostile templates fail cleanly: nesting depth, macro recursion, string and list sizes
// and the total work of a render are capped (see the constants below).
#pragma once
#pragma once

#include <vlgraph/text/jinja/renderer.hpp>
