"""Extra tokenizer goldens for tests/test_tokenizer.cpp -> tests/data/golden/tokenizer_extra.json.

Uses only the `tokenizers` package on the tiny checkpoint's tokenizer.json (no model, no hub):

* `cases`: strings beyond tokenizer_cases.json where a PCRE2 + utf8proc implementation could part from
  HF's Oniguruma + Rust normaliser: every Unicode White_Space character and its look-alikes (\\s), NFC
  corner cases (Hangul jamo, mark reordering, singletons, composition exclusions), marks and digits of
  several kinds, the case-insensitive contraction group (incl. U+017F LONG S), special tokens next to
  text that normalisation changes. `Tokenizer.encode(text, add_special_tokens=False).ids`.
* `flags`: added tokens with lstrip / rstrip / single_word / normalized set (HF AddedVocabulary rules),
  given as the `added_tokens` entries HF serialises after adding them to the tiny tokenizer, plus
  strings encoded and decoded with that tokenizer.

Only code points assigned in Unicode 14 are used: newer ones are classified by version (PCRE2 10.42 and
utf8proc 2.8 of Debian 12 know Unicode 14/15, HF's Oniguruma knows 16), which is documented, not tested.

Run: python3.11 tools/reference/dump_tokenizer_extra.py   (deterministic; ~1 s)
"""

import json
import pathlib

import tokenizers
from tokenizers import AddedToken, Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests/data/tiny-qwen36/tokenizer.json"
OUT = ROOT / "tests/data/golden/tokenizer_extra.json"

WHITESPACE_LIKE = [
    "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ", "\x85", "\xa0", "\u1680",
    "\u180e", "\u2000", "\u2007", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff",
]

STRINGS = [
    # NFC
    "\u1100\u1161\u11a8 \u1100\u1161",       # Hangul jamo compose to 각 / 가
    "a\u0323\u0301 a\u0301\u0323",           # canonical reordering of marks
    "\u2126 \u212b \u212a",                  # singletons Ω Å K
    "\u0958 \u0915\u093c",                   # composition exclusion (क़ stays decomposed)
    "e\u0301\u0301 \u00c5\u0301 \u1e9b\u0323 \u0344",
    "\u01c5 \ufb01 \u2460",                  # compatibility characters stay (NFC, not NFKC)
    # marks without a base, after punctuation, digits, spaces
    "\u0301abc", " \u0301x", "!\u0301?", "1\u0301 2\u0301", "\u0301\u0301\u0301",
    # digits of other kinds: No, Nl, Nd of other scripts, full width
    "\u00b2\u00b3 \u00bd \u216b \u2460 \u0e51\u0e52 \uff11\uff12\uff13 \U0001d7ce",
    # contractions
    "IT'S 'LL 'Ll 'lL we'RE", "'\u017f '\u017ft", "'s's's", " 's", "''s", "'", "x'",
    # line breaks and whitespace runs
    "\r\r\n\n", "\n \n", " \t ", "a  \t\n", "x \n\n ", "\n\n\n   \n\t", "a \r\n b", "  \r\n\r\n  x",
    # control, private use, noncharacters, astral
    "\x00\x01\x7f", "\ue000\uf8ff", "\uffff\ufffe", "\U0010fffd", "\U0001f600\U0001f3fd", "\U00020000\U0002a6df",
    # special tokens next to text that normalisation or splitting would change
    "<|im_start|><|im_start|>", "<|im_start|>\u0301", "a\u0301<|im_end|>e\u0301", "  <|im_end|>  ",
    "<think>\n\n</think>\n\n", "<|im_start|>user\n\u00e9\u0301<|im_end|>",
    # mixed scripts and code
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 123 \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22",
    "for (int i = 0; i < n; ++i) {\n\tx[i] += 1;\n}\n",
]

FLAG_TOKENS = [
    AddedToken("[X]", lstrip=True, rstrip=True, normalized=False),
    AddedToken("foo", single_word=True, normalized=False),
    AddedToken("\u212b", normalized=True),   # matched by its NFC form Å
    AddedToken("\u2126", normalized=False),  # matched only as the raw Ohm sign
    AddedToken("<b>", single_word=True, lstrip=True, normalized=True),
]
FLAG_SPECIAL = [AddedToken("<sep>", rstrip=True, special=True, normalized=False)]

FLAG_STRINGS = [
    "a [X] b", "a   [X]   b", "[X][X]", " [X]", "[X] ", "a\xa0[X]\u3000b", "\u180e[X]\u180e", "a\x85[X]\x85b",
    "foo", "foobar", "a foo b", "_foo", "foo_", "\u00e9foo", "foo\u0301", "1foo", "foo1", "-foo-", "\u200dfoo",
    "\u212b", "\u00c5", "A\u030a", "\u2126", "\u03a9", "x <b> y", "x<b>y", "  <b>", ".<b>.",
    "<sep>  z", "<sep>\n\nz", "[X]<sep> [X]", "a foo<sep> foo",
]


def main() -> None:
    tok = Tokenizer.from_file(str(TOKENIZER))
    cases = []
    for c in WHITESPACE_LIKE:
        text = f"a{c}b {c}\n{c}{c}x{c}'s{c}1"
        cases.append({"text": text, "ids": tok.encode(text, add_special_tokens=False).ids})
    for text in STRINGS:
        cases.append({"text": text, "ids": tok.encode(text, add_special_tokens=False).ids})

    flagged = Tokenizer.from_file(str(TOKENIZER))
    base_ids = {t["id"] for t in json.loads(flagged.to_str())["added_tokens"]}
    flagged.add_tokens(FLAG_TOKENS)
    flagged.add_special_tokens(FLAG_SPECIAL)
    added = [t for t in json.loads(flagged.to_str())["added_tokens"] if t["id"] not in base_ids]
    flag_cases = []
    for text in FLAG_STRINGS:
        ids = flagged.encode(text, add_special_tokens=False).ids
        flag_cases.append({"text": text, "ids": ids, "decoded": flagged.decode(ids, skip_special_tokens=False)})

    doc = {
        "generator": "tools/reference/dump_tokenizer_extra.py",
        "tokenizers_version": tokenizers.__version__,
        "tokenizer": "tests/data/tiny-qwen36/tokenizer.json",
        "call": "Tokenizer.encode(text, add_special_tokens=False).ids; flags: decode(ids, skip_special_tokens=False)",
        "cases": cases,
        "flags": {"added_tokens": added, "cases": flag_cases},
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} cases, {len(added)} flagged tokens, {len(flag_cases)} flag cases")


if __name__ == "__main__":
    main()
