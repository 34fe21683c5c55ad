#!/usr/bin/env bash
# tests/hostile/run.sh — the hostile-input table (issue "Hostile input never crashes, hangs or corrupts").
#
#   tests/hostile/run.sh [--sanitized] VLGRAPH_CLI MODEL_DIR TABLE_OUT.md
#
# Builds about 80 broken checkpoints, images and command lines from MODEL_DIR (the tiny checkpoint,
# tests/data/tiny-qwen36) in a fresh temporary directory, runs VLGRAPH_CLI once on each, and writes (and
# prints) a markdown table of what happened. Every case must be a *clean refusal*:
#   - exit status 1 (stderr: the one line "vlgraph CMD: error: ...") or 2 (a usage error: that line and
#     "(vlgraph --help for usage)"), never 0, 124 (timeout) or >= 128 (a signal);
#   - the line names what is at fault (each case's expected substring, case-insensitive) and leaks no C++
#     internals (std::, bad_alloc, basic_string, terminate) anywhere on stderr;
#   - under 30 s and under 1024 MB peak RSS (4096 MB with --sanitized).
# A first control case must succeed, so the harness is seen to tell success from failure.
# Exit status: 0 when every case passes, 1 otherwise, 2 for a bad command line.
# HOSTILE_CASES='GLOB' runs only the cases whose names match GLOB (and the control), for debugging.
#
# Each case runs as
#   /usr/bin/time -f '%e %M' -o TIME timeout -k 5 60 prlimit --as=$((8<<30)) -- CLI ARGS... 2>STDERR >STDOUT
# --sanitized (an AddressSanitizer build) drops prlimit — ASan reserves terabytes of address space — and
# raises the RSS bound.
#
# Only tools of a minimal Debian 12 are used (bash, coreutils, sed, grep, mkfifo, ...); the images that
# need a real encoder are committed under tests/hostile/data/ (made by tests/hostile/make_images.py).

set -euo pipefail
export LC_ALL=C

die() {
    echo "run.sh: $*" >&2
    exit 2
}

sanitized=0
if [[ ${1:-} == --sanitized ]]; then
    sanitized=1
    shift
fi
(($# == 3)) || die "usage: tests/hostile/run.sh [--sanitized] VLGRAPH_CLI MODEL_DIR TABLE_OUT.md"
cli=$(realpath -- "$1") || die "no such program: $1"
model=$(realpath -- "$2") || die "no such directory: $2"
table=$(realpath -m -- "$3")
[[ -x $cli && -f $cli ]] || die "not an executable: $1"
[[ -f $model/config.json && -f $model/model.safetensors ]] || die "not a checkpoint directory: $2"

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)  # tests/hostile
repo=$(cd -- "$here/../.." && pwd -P)
data=tests/hostile/data           # relative to $repo, so the table shows short paths
corpus=tests/fuzz/corpus/image
cd -- "$repo"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vlgraph-hostile.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
tmp=$(cd -- "$tmp" && pwd -P)

max_seconds=30
max_rss_mb=1024
limit=(prlimit --as=$((8 << 30)) --)
if ((sanitized)); then
    max_rss_mb=4096
    limit=()
    # A sanitizer report must not pass for a clean "exit 1" refusal.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}
fi

# ---------------------------------------------------------------------------------------------------------
# Setup helpers. Big texts go through files and pipes, never arguments (one argument is at most 128 KiB).

# model_copy NAME: a copy (cp, not symlinks: links out of a model directory are refused) of the checkpoint
# in $tmp/NAME; prints the path.
model_copy() {
    local d=$tmp/$1
    mkdir -- "$d"
    cp -- "$model"/* "$d"/
    printf '%s\n' "$d"
}

# deep N TEXT: TEXT repeated N times, without a newline.
deep() {
    local n=$1 text=$2 esc
    if ((${#text} == 1)); then
        head -c "$n" /dev/zero | tr '\0' "$(printf '\\%03o' "'$text")"
    else
        esc=$(printf '%s' "$text" | sed 's/[\\&|]/\\&/g')
        head -c "$n" /dev/zero | tr '\0' '\n' | sed "s|^|$esc|" | tr -d '\n'
    fi
}

# edit FILE SED_SCRIPT: sed -z (the whole file is one "line") in place; fails when nothing changed.
edit() {
    local file=$1 script=$2
    cp -- "$file" "$file.orig"
    sed -z -E -i "$script" "$file"
    if cmp -s -- "$file" "$file.orig"; then
        rm -f -- "$file.orig"
        die "setup: '$script' changed nothing in $file"
    fi
    rm -f -- "$file.orig"
}

# json_set FILE KEY VALUE: the first "KEY": value (a scalar, or a flat [...] array) of a pretty-printed
# JSON file becomes VALUE. First means: in config.json, text_config's key before vision_config's.
json_set() {
    local value
    value=$(printf '%s' "$3" | sed 's/[\\&#]/\\&/g')
    edit "$1" "s#\"$2\": (\\[[^]]*\\]|[^,\\n}]*)#\"$2\": $value#"
}

# json_rename FILE KEY NEW: renames the first key KEY.
json_rename() { edit "$1" "s#\"$2\":#\"$3\":#"; }

# replace_line FILE LINE_REGEX < NEW_LINE: the first line matching LINE_REGEX becomes stdin.
replace_line() {
    local file=$1 n
    n=$(grep -m1 -n -e "$2" -- "$file" | cut -d: -f1)
    [[ -n $n ]] || die "setup: no line matches '$2' in $file"
    {
        head -n $((n - 1)) -- "$file"
        cat
        printf '\n'
        tail -n +$((n + 1)) -- "$file"
    } >"$file.new"
    mv -- "$file.new" "$file"
}

# json_nest FILE KEY N OPEN CLOSE: wraps the value of the top-level object member "KEY": {...} of a
# pretty-printed (2-space) JSON file in N levels of OPEN ... CLOSE.
json_nest() {
    local file=$1 key=$2 n=$3 open=$4 close=$5 start end='' ln _
    start=$(grep -m1 -n -e "^  \"$key\": {\$" -- "$file" | cut -d: -f1)
    [[ -n $start ]] || die "setup: no top-level \"$key\" object in $file"
    while IFS=: read -r ln _; do
        if ((ln > start)); then
            end=$ln
            break
        fi
    done < <(grep -n -e '^  }' -- "$file")
    [[ -n $end ]] || die "setup: \"$key\" does not end in $file"
    {
        head -n $((start - 1)) -- "$file"
        printf '  "%s": ' "$key"
        deep "$n" "$open"
        printf '{\n'
        sed -n "$((start + 1)),$((end - 1))p" -- "$file"
        printf '  }'
        deep "$n" "$close"
        sed -n "${end}p" -- "$file" | cut -c4-
        tail -n +$((end + 1)) -- "$file"
    } >"$file.new"
    mv -- "$file.new" "$file"
}

# le64 N: N as 8 little-endian bytes (the safetensors header length).
le64() {
    local i
    for ((i = 0; i < 8; i++)); do
        # shellcheck disable=SC2059
        printf "\\x$(printf %02x $(((($1) >> (8 * i)) & 255)))"
    done
}

# safetensors FILE HEADER_JSON DATA_BYTES: a safetensors file holding HEADER_JSON and DATA_BYTES zero bytes.
safetensors() {
    {
        le64 "${#2}"
        printf '%s' "$2"
        head -c "$3" /dev/zero
    } >"$1"
}

# index FILE WEIGHT_MAP_JSON: a model.safetensors.index.json.
index() { printf '{"metadata": {"total_size": 4}, "weight_map": %s}\n' "$2" >"$1"; }

# ---------------------------------------------------------------------------------------------------------
# Running and judging one case.

rows=()
failures=()
n_cases=0
n_refusals=0
n_controls=0
n_control_ok=0

# md TEXT: TEXT for a table cell: the temp dir and model paths shortened, '|' escaped, cut to 160 bytes
# (a cut multi-byte character dropped).
md() {
    local s=$1
    s=${s//"$tmp"/\$TMP}
    s=${s//"$model"/\$MODEL}
    s=${s//$'\t'/ }
    s=${s//$'\r'/ }
    if ((${#s} > 160)); then
        s=$(printf '%s' "${s:0:160}" | sed -E 's/[\xc0-\xff][\x80-\xbf]*$//')...
    fi
    printf '%s' "${s//|/\\|}"
}

# run_cli DIR ARGS...: runs the CLI on ARGS under the limits; leaves DIR/stdout, DIR/stderr and sets
# rc, secs, rss_kb.
run_cli() {
    local d=$1 t
    shift
    set +e
    /usr/bin/time -f '%e %M' -o "$d/time" timeout -k 5 60 "${limit[@]}" "$cli" "$@" 2>"$d/stderr" >"$d/stdout" </dev/null
    rc=$?
    set -e
    # GNU time writes "Command exited with non-zero status N" first; the numbers are on the last line.
    t=$(tail -n 1 -- "$d/time" 2>/dev/null || true)
    secs=${t% *}
    rss_kb=${t#* }
    [[ $secs =~ ^[0-9]+(\.[0-9]+)?$ ]] || secs=999
    [[ $rss_kb =~ ^[0-9]+$ ]] || rss_kb=0
}

# resources: appends to `why` when the run was too slow or too big.
resources() {
    ((${secs%.*} < max_seconds)) || why+="took ${secs} s; "
    ((rss_kb < max_rss_mb * 1024)) || why+="peak RSS $((rss_kb / 1024)) MB; "
}

row() {  # row NAME INPUT RESULT_NOTE MESSAGE
    local name=$1
    [[ -z $why ]] || name="$name **FAIL: $(md "${why%; }")**"
    rows+=("| $name | $(md "$2") | $rc | $(md "$3") | $secs | $(((rss_kb + 512) / 1024)) |")
    if [[ -n $why ]]; then failures+=("$1: ${why%; }"); fi
}

# control_ NAME INPUT ARGS...: a run that must succeed (exit 0, some stdout).
control_() {
    local name=$1 input=$2 d
    shift 2
    d=$tmp/run.$((n_cases += 1))
    mkdir -- "$d"
    run_cli "$d" "$@"
    why=
    ((rc == 0)) || why+="exit $rc, expected 0; "
    [[ -s $d/stdout ]] || why+="no output; "
    resources
    ((n_controls += 1))
    [[ -n $why ]] || ((n_control_ok += 1))
    row "$name — control (must succeed)" "$input" "stdout: $(head -n 1 -- "$d/stdout")"
}

# case_ NAME INPUT EXPECT ARGS...: a run that must be refused cleanly, with a message containing EXPECT.
case_() {
    local name=$1 input=$2 expect=$3 d lines first second
    shift 3
    # shellcheck disable=SC2053
    [[ $name == ${HOSTILE_CASES:-*} ]] || return 0
    d=$tmp/run.$((n_cases += 1))
    mkdir -- "$d"
    run_cli "$d" "$@"
    lines=$(grep -c '' -- "$d/stderr" || true)
    first=$(head -n 1 -- "$d/stderr")
    second=$(sed -n 2p -- "$d/stderr")
    why=
    if ((rc == 0)); then
        why+="accepted (exit 0); "
    elif ((rc == 124 || rc == 137)); then
        why+="timed out (exit $rc); "
    elif ((rc >= 128)); then
        why+="killed by signal $((rc - 128)); "
    elif ((rc == 1)); then
        [[ $lines == 1 ]] || why+="$lines stderr lines, expected 1; "
        [[ $first == "vlgraph "*": error: "* ]] || why+="first line is not 'vlgraph CMD: error: ...'; "
    elif ((rc == 2)); then
        [[ $lines == 2 && $first == "vlgraph "* && $second == "(vlgraph --help for usage)" ]] ||
            why+="not a 2-line usage error ($lines lines); "
    else
        why+="unexpected exit $rc; "
    fi
    # "terminate" as a word: std::terminate's "terminate called ...", not "unterminated".
    if grep -q -E -e 'std::|bad_alloc|basic_string|(^|[^[:alpha:]])terminate' -- "$d/stderr"; then
        why+="C++ internals in the message; "
    fi
    grep -q -i -F -e "$expect" <<<"$first" || why+="message lacks '$expect'; "
    resources
    [[ -n $why ]] || ((n_refusals += 1))
    row "$name" "$input" "$first"
}

# ---------------------------------------------------------------------------------------------------------
# The cases. Each group builds one broken thing per case, then runs the command that reads it first.

out=$tmp/out.safetensors
gen=(generate --prompt hi --max-new-tokens 1)

control_ tokenize_hello "tokenize --text hello on the intact checkpoint" tokenize --model "$model" --text hello

# --- config.json: read first by every command; a hostile one must neither hang the loader (FIFOs,
# devices, huge files), nor overflow the parser's stack, nor size allocations from absurd fields.
m=$(model_copy config_missing); rm -- "$m/config.json"
case_ config_missing "config.json removed" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_not_json); printf 'this is not JSON {\n' >"$m/config.json"
case_ config_not_json "config.json = 'this is not JSON {'" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_deep); deep 100000 '[' >"$m/config.json"
case_ config_deep_100000 "config.json = '[' x 100000" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_fifo); rm -- "$m/config.json"; mkfifo -- "$m/config.json"
case_ config_fifo "config.json is a FIFO (no writer)" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_dev_zero); ln -sf /dev/zero "$m/config.json"
case_ config_symlink_dev_zero "config.json -> /dev/zero" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_70mb); truncate -s 70M -- "$m/config.json"
case_ config_70mb_sparse "config.json padded with NULs to 70 MB (sparse)" "config.json" "${gen[@]}" --model "$m"

m=$(model_copy config_hidden_2p40); json_set "$m/config.json" hidden_size 1099511627776
case_ config_hidden_size_2p40 "text_config.hidden_size = 2^40" "hidden_size" "${gen[@]}" --model "$m"

m=$(model_copy config_layers_neg); json_set "$m/config.json" num_hidden_layers -1
case_ config_num_hidden_layers_-1 "text_config.num_hidden_layers = -1" "num_hidden_layers" "${gen[@]}" --model "$m"

m=$(model_copy config_layer_types); json_set "$m/config.json" layer_types '["linear_attention", "full_attention", "full_attention"]'
case_ config_layer_types_length "layer_types has 3 entries, num_hidden_layers 4" "layer_types" "${gen[@]}" --model "$m"

m=$(model_copy config_vocab0); json_set "$m/config.json" vocab_size 0
case_ config_vocab_size_0 "text_config.vocab_size = 0" "vocab_size" "${gen[@]}" --model "$m"

m=$(model_copy config_llama); json_set "$m/config.json" model_type '"llama"'
case_ config_model_type_llama "model_type = \"llama\"" "model_type" "${gen[@]}" --model "$m"

m=$(model_copy config_no_text); json_rename "$m/config.json" text_config text_config_removed
case_ config_text_config_missing "no text_config member" "text_config" "${gen[@]}" --model "$m"

# The context check must refuse a prompt longer than the context before the vision tower runs.
m=$(model_copy config_ctx64); json_set "$m/config.json" max_position_embeddings 64
case_ config_context_64_image "max_position_embeddings 64, logits with a 512x512 image (256 tokens)" "max_position_embeddings" \
    logits --model "$m" --image "$data/grey_512x512.png" --prompt hi --out "$out"

# --- chat_template.jinja: the template is a program from the checkpoint; rendering it must be bounded in
# time, memory and recursion, and reading it must not block or run off into a device.
template() {  # template NAME TEXT: a checkpoint copy with chat_template.jinja = TEXT
    local d
    d=$(model_copy "$1")
    printf '%s\n' "$2" >"$d/chat_template.jinja"
    printf '%s\n' "$d"
}
m=$(model_copy template_fifo); rm -- "$m/chat_template.jinja"; mkfifo -- "$m/chat_template.jinja"
case_ template_fifo "chat_template.jinja is a FIFO" "chat_template.jinja" "${gen[@]}" --model "$m"

m=$(model_copy template_dev_zero); ln -sf /dev/zero "$m/chat_template.jinja"
case_ template_symlink_dev_zero "chat_template.jinja -> /dev/zero" "chat_template.jinja" "${gen[@]}" --model "$m"

m=$(template template_macro_2n '{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(30) }}')
case_ template_macro_2_pow_30 "macro calling itself twice per level, f(30)" "chat_template.jinja" "${gen[@]}" --model "$m"

# vlgraph's Jinja has no range(): the brief's loop is refused for that. The same loops over a list of
# 100001 empty strings ("x...x".split("x")) must hit the work, list and string caps instead.
m=$(template template_range '{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}')
case_ template_nested_range_loops "two nested range(100000) loops printing nothing" "'range'" "${gen[@]}" --model "$m"

list="\"$(deep 100000 x)\".split(\"x\")"
m=$(template template_loops "{% set l = $list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}")
case_ template_nested_loops_1e10 "two nested loops over 100001 items printing nothing" "too much work" "${gen[@]}" --model "$m"

m=$(template template_list_append "{% set ns = namespace(l=[]) %}{% for i in $list %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.l | length }}")
case_ template_list_append "ns.l = ns.l + [i] over 100001 items (quadratic copying)" "too much work" "${gen[@]}" --model "$m"

m=$(template template_list_double "{% set ns = namespace(l=[0]) %}{% for i in \"$(deep 64 x)\".split(\"x\") %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}")
case_ template_list_doubling "ns.l = ns.l + ns.l, 65 times" "a list of" "${gen[@]}" --model "$m"

m=$(template template_string_double "{% set ns = namespace(s=\"x\") %}{% for i in \"$(deep 64 x)\".split(\"x\") %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}")
case_ template_string_doubling "ns.s = ns.s ~ ns.s, 65 times" "exceeds 67108864 bytes" "${gen[@]}" --model "$m"

m=$(template template_syntax '{% for m in messages %}{{ m.content }{% endfor %}')
case_ template_syntax_error "'{{ m.content }' (unclosed expression)" "chat_template.jinja" "${gen[@]}" --model "$m"

m=$(template template_deep_parens "{{ $(deep 10000 '(')1$(deep 10000 ')') }}")
case_ template_deep_parens "an expression nested 10000 parentheses deep" "chat_template.jinja" "${gen[@]}" --model "$m"

# --- tokenizer.json: a 9000-line JSON with nested pre-/post-processors and regexes; nesting of every
# kind must be bounded before it reaches a recursive walk, a regex compiler or the stack.
m=$(model_copy tok_post_seq); json_nest "$m/tokenizer.json" post_processor 100000 '{"type": "Sequence", "processors": [' ']}'
case_ tokenizer_post_processor_seq_100000 "post_processor inside 100000 nested Sequence processors" "tokenizer.json" tokenize --model "$m" --text hello

m=$(model_copy tok_post_seq6); json_nest "$m/tokenizer.json" post_processor 6 '{"type": "Sequence", "processors": [' ']}'
case_ tokenizer_post_processor_seq_6 "post_processor inside 6 nested Sequences (JSON depth is fine)" "post_processor" tokenize --model "$m" --text hello

m=$(model_copy tok_split_parens)
{ printf '          "Regex": "'; deep 100000 '('; printf 'a'; deep 100000 ')'; printf '"'; } | replace_line "$m/tokenizer.json" '^ *"Regex": '
case_ tokenizer_split_regex_nested "pre_tokenizer Split regex: 100000 nested groups" "tokenizer.json" tokenize --model "$m" --text hello

m=$(model_copy tok_split_backtrack)
printf '          "Regex": "(a+)+$"' | replace_line "$m/tokenizer.json" '^ *"Regex": '
case_ tokenizer_split_regex_backtracking "Split regex (a+)+\$ on 'a' x 40 + '!' (catastrophic backtracking)" "tokenizer.json" \
    tokenize --model "$m" --text "$(deep 40 a)!"

m=$(model_copy tok_deep); deep 2000000 '[' >"$m/tokenizer.json"
case_ tokenizer_deep_2m "tokenizer.json = '[' x 2000000" "tokenizer.json" tokenize --model "$m" --text hello

m=$(model_copy tok_symlink); ln -sf "$model/tokenizer.json" "$m/tokenizer.json"
case_ tokenizer_symlink_outside "tokenizer.json -> the intact tokenizer.json in another directory" "tokenizer.json" tokenize --model "$m" --text hello

m=$(model_copy tok_fifo); rm -- "$m/tokenizer.json"; mkfifo -- "$m/tokenizer.json"
case_ tokenizer_fifo "tokenizer.json is a FIFO" "tokenizer.json" tokenize --model "$m" --text hello

m=$(model_copy tok_wordpiece); edit "$m/tokenizer.json" 's#("model": \{\n +"type": )"BPE"#\1"WordPiece"#'
case_ tokenizer_model_wordpiece "model.type = \"WordPiece\"" "WordPiece" tokenize --model "$m" --text hello

# --- model.safetensors: the header is untrusted JSON with offsets into an mmap; sizes, lengths and file
# types must be checked before anything is mapped or allocated.
m=$(model_copy st_truncated); head -c 1000 "$model/model.safetensors" >"$m/model.safetensors"
case_ safetensors_truncated "model.safetensors cut to its first 1000 bytes" "model.safetensors" "${gen[@]}" --model "$m"

m=$(model_copy st_hlen); { le64 $((1 << 63)); tail -c +9 "$model/model.safetensors"; } >"$m/model.safetensors"
case_ safetensors_header_length_2p63 "header length field = 2^63" "model.safetensors" "${gen[@]}" --model "$m"

m=$(model_copy st_unrelated); safetensors "$m/model.safetensors" '{"unrelated":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 4
case_ safetensors_one_unrelated_tensor "a valid safetensors holding only F32 'unrelated' [1]" "do not match config.json" "${gen[@]}" --model "$m"

m=$(model_copy st_fifo); rm -- "$m/model.safetensors"; mkfifo -- "$m/model.safetensors"
case_ safetensors_fifo "model.safetensors is a FIFO" "model.safetensors" "${gen[@]}" --model "$m"

m=$(model_copy st_symlink); ln -sf "$model/model.safetensors" "$m/model.safetensors"
case_ safetensors_symlink_outside "model.safetensors -> the intact one in another directory" "model.safetensors" "${gen[@]}" --model "$m"

m=$(model_copy st_dir); rm -- "$m/model.safetensors"; mkdir -- "$m/model.safetensors"
case_ safetensors_directory "model.safetensors is a directory" "model.safetensors" "${gen[@]}" --model "$m"

# --- model.safetensors.index.json (model.safetensors removed): shard names are paths chosen by the
# checkpoint; they must stay inside the model directory and name regular files.
tensor=model.language_model.embed_tokens.weight
sharded() {  # sharded NAME: a checkpoint copy without model.safetensors
    local d
    d=$(model_copy "$1")
    rm -- "$d/model.safetensors"
    printf '%s\n' "$d"
}
m=$(sharded idx_fifo); mkfifo -- "$m/model.safetensors.index.json"
case_ index_fifo "model.safetensors.index.json is a FIFO" "model.safetensors.index.json" "${gen[@]}" --model "$m"

m=$(sharded idx_dotdot); index "$m/model.safetensors.index.json" "{\"$tensor\": \"../../etc/passwd\"}"
case_ index_shard_dotdot "weight_map shard \"../../etc/passwd\"" "../../etc/passwd" "${gen[@]}" --model "$m"

m=$(sharded idx_abs); index "$m/model.safetensors.index.json" "{\"$tensor\": \"/etc/passwd\"}"
case_ index_shard_absolute "weight_map shard \"/etc/passwd\"" "/etc/passwd" "${gen[@]}" --model "$m"

m=$(sharded idx_missing); index "$m/model.safetensors.index.json" "{\"$tensor\": \"model-00001-of-00002.safetensors\"}"
case_ index_shard_missing "weight_map shard that does not exist" "model-00001-of-00002.safetensors" "${gen[@]}" --model "$m"

m=$(sharded idx_shard_dir); index "$m/model.safetensors.index.json" "{\"$tensor\": \"shard.safetensors\"}"; mkdir -- "$m/shard.safetensors"
case_ index_shard_directory "weight_map shard that is a directory" "shard.safetensors" "${gen[@]}" --model "$m"

m=$(sharded idx_deep); deep 100000 '{"a": ' >"$m/model.safetensors.index.json"
case_ index_deep_100000 "index = '{\"a\": ' x 100000" "model.safetensors.index.json" "${gen[@]}" --model "$m"

# --- preprocessor_config.json: its sizes drive the resize and the patch grid; absurd values must be
# refused from the file, not discovered by an allocation.
enc=(encode --image "$data/odd_50x37.png" --out "$out")
m=$(model_copy pp_longest_2p40); json_set "$m/preprocessor_config.json" longest_edge 1099511627776
case_ preprocessor_longest_edge_2p40 "size.longest_edge = 2^40" "longest_edge" "${enc[@]}" --model "$m"

m=$(model_copy pp_longest_2p26); json_set "$m/preprocessor_config.json" longest_edge 67108864
case_ preprocessor_longest_edge_2p26 "size.longest_edge = 2^26, a 50x37 image" "longest_edge" "${enc[@]}" --model "$m"

# min_pixels = max_pixels = 2^25 (the caps) would upscale a 50x37 image past the tower's pixel limit.
m=$(model_copy pp_upscale); json_set "$m/preprocessor_config.json" longest_edge 33554432
json_set "$m/preprocessor_config.json" shortest_edge 33554432
case_ preprocessor_upscale_2p25 "size.shortest_edge = longest_edge = 2^25, a 50x37 image" "over the limit" "${enc[@]}" --model "$m"

m=$(model_copy pp_no_resize); json_set "$m/preprocessor_config.json" do_resize false
case_ preprocessor_do_resize_false_50x37 "do_resize false, a 50x37 image (not a multiple of 32)" "do_resize" "${enc[@]}" --model "$m"

m=$(model_copy pp_patch0); json_set "$m/preprocessor_config.json" patch_size 0
case_ preprocessor_patch_size_0 "patch_size = 0" "patch_size" "${enc[@]}" --model "$m"

m=$(model_copy pp_mean2); json_set "$m/preprocessor_config.json" image_mean '[0.5, 0.5]'
case_ preprocessor_image_mean_2_values "image_mean = [0.5, 0.5]" "image_mean" "${enc[@]}" --model "$m"

# --- images: decoders are the classic attack surface (stb_image, libjpeg, libwebp); the caps apply to
# what the header declares, before any pixel is decoded. Special files must not block or stream forever,
# and URLs are never fetched.
image_case() {  # image_case NAME INPUT EXPECT IMAGE: encode one image with the intact checkpoint
    case_ "$1" "$2" "$3" encode --model "$model" --image "$4" --out "$out"
}
printf 'GIF89a\x01\x00\x01\x00%s' "$(deep 64 '~')" >"$tmp/garbage.gif"
printf 'RIFF\x40\x00\x00\x00WEBPVP8 %s' "$(deep 64 '~')" >"$tmp/garbage.webp"
head -c 300 "$corpus/seed_jpeg_420.jpg" >"$tmp/truncated.jpg"
mkfifo -- "$tmp/image.fifo"
mkdir -- "$tmp/image.dir"

image_case image_jpeg_bad_huffman "$corpus/bad_huffman_counts_over_256.jpg" "huffman" "$corpus/bad_huffman_counts_over_256.jpg"
image_case image_png_empty_first_idat "$corpus/bad_empty_first_idat.png" "IDAT" "$corpus/bad_empty_first_idat.png"
image_case image_png_declares_65535x65535 "69-byte PNG whose IHDR declares 65535x65535" "65535x65535" "$data/declares_65535x65535.png"
image_case image_png_bomb_8200x8200 "64 KB PNG of 8200x8200 zeros (decompression bomb)" "over the limit" "$data/bomb_8200x8200_zeros.png"
image_case image_jpeg_truncated "seed_jpeg_420.jpg cut to 300 bytes" "truncated.jpg" "$tmp/truncated.jpg"
image_case image_gif_garbage "'GIF89a' + 68 bytes of garbage" "garbage.gif" "$tmp/garbage.gif"
image_case image_webp_garbage "'RIFF....WEBPVP8 ' + 64 bytes of garbage" "webp" "$tmp/garbage.webp"
image_case image_dev_zero "/dev/zero" "/dev/zero" /dev/zero
image_case image_fifo "a FIFO with no writer" "image.fifo" "$tmp/image.fifo"
image_case image_directory "a directory" "image.dir" "$tmp/image.dir"
image_case image_nonexistent "a path that does not exist" "nonexistent.png" "$tmp/nonexistent.png"
image_case image_data_url_bad_base64 "data:image/png;base64,!!!!" "base64" 'data:image/png;base64,!!!!'
image_case image_data_url_text_html "data:text/html,hi" "data URL" 'data:text/html,hi'
image_case image_data_url_text_html_base64 "data:text/html;base64,aGk=" "text/html" 'data:text/html;base64,aGk='
image_case image_file_url "file:///etc/passwd" "file: URLs" 'file:///etc/passwd'
image_case image_http_url "http://127.0.0.1:9/x.png (never fetched)" "URL" 'http://127.0.0.1:9/x.png'
case_ logits_image_bomb "logits --image the 8200x8200 bomb" "over the limit" logits --model "$model" --image "$data/bomb_8200x8200_zeros.png" --prompt hi --out "$out"
case_ logits_image_dev_zero "logits --image /dev/zero" "/dev/zero" logits --model "$model" --image /dev/zero --prompt hi --out "$out"

# --- arguments: every number is range-checked where it is parsed; nothing reaches the model unchecked.
arg_case() {  # arg_case NAME EXPECT ARGS...: generate hi on the intact checkpoint with ARGS (and 1 new token)
    local name=$1 expect=$2 input
    shift 2
    input="generate --prompt hi $*"
    [[ $1 == --max-new-tokens ]] || set -- "$@" --max-new-tokens 1
    case_ "$name" "$input" "$expect" generate --model "$model" --prompt hi "$@"
}
arg_case args_max_new_tokens_-1 "--max-new-tokens" --max-new-tokens -1
arg_case args_max_new_tokens_huge "--max-new-tokens" --max-new-tokens 99999999999999999999
arg_case args_temperature_nan "--temperature" --temperature nan
arg_case args_top_p_0 "top_p" --top-p 0
arg_case args_top_k_-5 "--top-k" --top-k -5
arg_case args_threads_0 "--threads" --threads 0
arg_case args_threads_100000 "--threads" --threads 100000
arg_case args_seed_abc "--seed" --seed abc
arg_case args_unknown_flag "--frobnicate" --frobnicate
arg_case args_backend_tpu "--backend" --backend tpu
case_ args_flag_without_value "generate --model M --prompt (no value)" "--prompt" generate --model "$model" --prompt
case_ args_model_nonexistent "--model /nonexistent" "/nonexistent" "${gen[@]}" --model /nonexistent
case_ args_model_dev_null "--model /dev/null" "/dev/null" "${gen[@]}" --model /dev/null
case_ args_text_invalid_utf8 "tokenize --text \$'\\xff\\xfe'" "UTF-8" tokenize --model "$model" --text $'\xff\xfe'
case_ args_unknown_command "vlgraph frobnicate" "frobnicate" frobnicate --model "$model"

# ---------------------------------------------------------------------------------------------------------
# The table.

n_hostile=$((n_cases - n_controls))
control_state=succeeded
((n_control_ok == n_controls)) || control_state=FAILED
summary="$n_hostile cases: $n_refusals clean refusals, $((n_hostile - n_refusals)) failures (and $n_controls control run that must succeed: $control_state)"
{
    echo "| case | input | exit | message | seconds | peak RSS (MB) |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "$summary"
    if ((${#failures[@]})); then
        echo
        printf -- '- FAIL %s\n' "${failures[@]}"
    fi
} >"$table"
cat -- "$table"
((${#failures[@]} == 0))
