#!/usr/bin/env bash
# tests/server/run.sh — black-box tests of `vlgraph serve`, the OpenAI-compatible HTTP server.
#
#   tests/server/run.sh VLGRAPH_CLI MODEL_DIR
#
# MODEL_DIR is the tiny checkpoint (tests/data/tiny-qwen36): random weights, so the text is meaningless but
# deterministic under greedy decoding (temperature 0), which is what most cases compare: the same request
# whole and streamed, alone and among 7 concurrent others, before and after every error.
# Servers (each `VLGRAPH_CLI serve --model DIR --host 127.0.0.1 --port 0 ...`, started together at the
# beginning; the port is read from the one stderr line "vlgraph serve: listening on http://HOST:PORT"):
#   main    the defaults (--max-batch 8): shapes, streaming, reasoning split, stop strings, images,
#           concurrency, every request error, a client that disconnects
#   limits  --max-context 64 --max-images 1 --max-body-bytes 65536: context, image-count and body limits
#   queue   --max-batch 1 --max-queue 1: 429 when full; a disconnected client frees the only slot
#   key     --api-key: 401 without or with a wrong key
#   text    a copy of MODEL_DIR without the vision tower: vision false, an image request is a 400
#   term    --shutdown-grace-s 2: SIGTERM while a request streams exits 0 within grace + 5 s
# Every case prints one line "PASS name: what was checked" or "FAIL name: what was wrong"; at the end every
# server still running gets SIGTERM and must exit 0 (a server that died on the way fails there).
# Exit status: 0 when every case passes, 1 otherwise, 2 for a bad command line.
# SERVER_CASES='GLOB' runs only the groups whose names match GLOB (usage main limits queue key text term).
# Requests go to 127.0.0.1 only; every wait is bounded (curl --max-time, polls with deadlines).
# Needs bash, curl, python3 (standard library: tests/server/check.py), coreutils.

set -uo pipefail
export LC_ALL=C

die() {
    echo "run.sh: $*" >&2
    exit 2
}
(($# == 2)) || die "usage: tests/server/run.sh VLGRAPH_CLI MODEL_DIR"
cli=$(realpath -- "$1") || die "no such program: $1"
model=$(realpath -- "$2") || die "no such directory: $2"
[[ -x $cli && -f $cli ]] || die "not an executable: $1"
[[ -f $model/config.json && -f $model/model.safetensors ]] || die "not a checkpoint directory: $2"
command -v curl >/dev/null || die "curl is needed (scripts/install-deps.sh installs it)"
command -v python3 >/dev/null || die "python3 is needed (scripts/install-deps.sh installs it)"
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
images=$here/../data/images
check() { python3 "$here/check.py" "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vlgraph-serve-test.XXXXXX")
declare -A PID PORT
extra_pids=()
cleanup() {
    local p
    for p in "${PID[@]}" "${extra_pids[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

t_start=$SECONDS
n_pass=0
failures=()
pass() {
    echo "PASS $1: $2"
    ((n_pass += 1))
}
fail() {
    echo "FAIL $1: $2"
    failures+=("$1")
}
# verdict NAME WHAT: PASS with WHAT when $why is empty, else FAIL with $why.
verdict() {
    if [[ -z $why ]]; then pass "$1" "$2"; else fail "$1" "${why%; }"; fi
}
# shellcheck disable=SC2053  # want GROUP: the group is to run (SERVER_CASES is a glob)
want() { [[ $1 == ${SERVER_CASES:-*} ]]; }
tail_of() { tail -c 400 -- "$1" 2>/dev/null | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------------------
# Servers.

# start_server NAME DIR ARGS...: starts `serve` in the background (stderr in $tmp/NAME.err).
start_server() {
    local name=$1 dir=$2
    shift 2
    "$cli" serve --model "$dir" --host 127.0.0.1 --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
    PID[$name]=$!
}

alive() { kill -0 "${PID[$1]}" 2>/dev/null; }

# await_server NAME: the listening line (within 30 s of the start), then /health polled until 200 (60 s):
# every answer on the way must be 503 {"status":"loading"} or 200 {"status":"ok"}. Sets why.
await_server() {
    local name=$1 deadline line n code seen_loading=0
    why=
    deadline=$((SECONDS + 30))
    while :; do
        line=$(grep -m1 -E '^vlgraph serve: listening on http://' -- "$tmp/$name.err")
        [[ -n $line ]] && break
        if ! alive "$name"; then
            why="exited before listening: $(tail_of "$tmp/$name.err")"
            return
        fi
        ((SECONDS < deadline)) || {
            why="no 'vlgraph serve: listening on http://HOST:PORT' line on stderr within 30 s: $(tail_of "$tmp/$name.err")"
            return
        }
        sleep 0.05
    done
    if [[ ! $line =~ ^vlgraph\ serve:\ listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]]; then
        why="the listening line is '$line', not 'vlgraph serve: listening on http://127.0.0.1:PORT'"
        return
    fi
    PORT[$name]=${BASH_REMATCH[1]}
    ((PORT[$name] > 0 && PORT[$name] < 65536)) || why+="port ${PORT[$name]} out of range; "
    deadline=$((SECONDS + 60))
    while :; do
        code=$(curl -sS -o "$tmp/$name.health" -w '%{http_code}' --max-time 5 "http://127.0.0.1:${PORT[$name]}/health" 2>/dev/null)
        if [[ $code == 200 || $code == 503 ]]; then
            if ! out=$(check health "$tmp/$name.health" "$code"); then
                why+="/health: $out; "
                return
            fi
            [[ $code == 503 ]] && seen_loading=1
            [[ $code == 200 ]] && break
        elif [[ $code != 000 ]]; then
            why+="/health answered HTTP $code: $(tail_of "$tmp/$name.health"); "
            return
        fi
        if ! alive "$name"; then
            why+="exited while loading: $(tail_of "$tmp/$name.err"); "
            return
        fi
        ((SECONDS < deadline)) || {
            why+="/health not 200 within 60 s (last: HTTP $code); "
            return
        }
        sleep 0.05
    done
    n=$(grep -c -E '^vlgraph serve: listening on ' -- "$tmp/$name.err")
    ((n == 1)) || why+="$n listening lines on stderr, expected 1; "
    health_note="port ${PORT[$name]}$( ((seen_loading)) && echo ', 503 loading then 200 ok' || echo ', 200 ok')"
}

# ---------------------------------------------------------------------------------------------------------
# Requests. Each leaves the body in $tmp/OUT and the headers in $tmp/OUT.hdr, and sets code to the HTTP
# status, or "curl-N" (N: curl's exit status; 28: the --max-time ran out) when there was no answer.

# req OUT SERVER METHOD PATH [BODY_FILE|''] [CURL_ARGS...]
req() {
    local out=$1 srv=$2 method=$3 path=$4 body=${5:-} rc
    shift 5 2>/dev/null || shift $#
    local data=()
    [[ -n $body ]] && data=(-H 'Content-Type: application/json' -H 'Expect:' --data-binary "@$body")
    rm -f -- "$tmp/$out" "$tmp/$out.hdr"
    code=$(curl -sS -o "$tmp/$out" -D "$tmp/$out.hdr" -w '%{http_code}' --max-time "${max_time:-60}" \
        -X "$method" "${data[@]}" "$@" "http://127.0.0.1:${PORT[$srv]}$path" 2>"$tmp/$out.curl")
    rc=$?
    ((rc == 0)) || code=curl-$rc
}

# chat OUT SERVER JSON [CURL_ARGS...]: POST JSON (a string) to /v1/chat/completions.
chat() {
    local out=$1 srv=$2
    printf '%s' "$3" >"$tmp/$out.req"
    shift 3
    req "$out" "$srv" POST /v1/chat/completions "$tmp/$out.req" "$@"
}

# body PROMPT MAX_TOKENS [EXTRA_JSON] [--image FILE]...: a greedy request (check.py body).
body() { check body "$@"; }

# expect_completion OUT [CHECK_ARGS...]: 200 and a valid chat.completion; its summary in $tmp/OUT.sum.
expect_completion() {
    local out=$1 s
    shift
    if [[ $code != 200 ]]; then
        why+="HTTP $code, expected 200: $(tail_of "$tmp/$out")$(tail_of "$tmp/$out.curl"); "
        return 1
    fi
    if ! s=$(check completion "$tmp/$out" "$@"); then
        why+="$s; "
        return 1
    fi
    printf '%s\n' "$s" >"$tmp/$out.sum"
}

# expect_stream OUT [CHECK_ARGS...]: 200, Content-Type text/event-stream and a valid chunk stream.
expect_stream() {
    local out=$1 s
    shift
    if [[ $code != 200 ]]; then
        why+="HTTP $code, expected 200: $(tail_of "$tmp/$out")$(tail_of "$tmp/$out.curl"); "
        return 1
    fi
    grep -qi -E '^content-type: *text/event-stream' -- "$tmp/$out.hdr" ||
        why+="Content-Type is '$(grep -i '^content-type:' -- "$tmp/$out.hdr" | tr -d '\r')', not text/event-stream; "
    if ! s=$(check stream "$tmp/$out" "$@"); then
        why+="$s; "
        return 1
    fi
    printf '%s\n' "$s" >"$tmp/$out.sum"
}

# expect_error OUT STATUS [PARAM]: HTTP STATUS (a regex: 404|405) and an OpenAI error body naming PARAM.
expect_error() {
    local out=$1 status=$2 s
    if [[ ! $code =~ ^($status)$ ]]; then
        why+="HTTP $code, expected $status: $(tail_of "$tmp/$out")$(tail_of "$tmp/$out.curl"); "
        return 1
    fi
    if ! s=$(check error "$tmp/$out" "${@:3}"); then
        why+="HTTP $code but $s; "
        return 1
    fi
    err_msg=$s
}

# field SUMMARY_OUT KEY: one field of a summary (JSON-encoded).
field() { check get "$tmp/$1.sum" "$2" --json; }

# same OUT_A OUT_B [KEYS]: the summaries agree on KEYS (default: all of them).
same() {
    local o
    # shellcheck disable=SC2086
    o=$(check same "$tmp/$1.sum" "$tmp/$2.sum" ${3:-}) || { why+="$o; "; return 1; }
}

# still_serves SERVER REF: a normal request afterwards, answered exactly as REF (an earlier summary of the
# same request, the body in $tmp/REF.req) was.
still_serves() {
    local srv=$1 ref=$2
    chat probe "$srv" "$(cat -- "$tmp/$ref.req")"
    expect_completion probe && same probe "$ref"
}

# usage_case NAME EXPECT ARGS...: `serve ARGS` exits 2 within 10 s with a message on stderr naming EXPECT.
usage_case() {
    local name=$1 expect=$2 rc
    shift 2
    timeout -k 2 10 "$cli" serve "$@" >"$tmp/usage.out" 2>"$tmp/usage.err" </dev/null
    rc=$?
    why=
    ((rc == 2)) || why+="exit $rc, expected 2; "
    grep -qiF -- "$expect" "$tmp/usage.err" || why+="stderr does not name '$expect': $(tail_of "$tmp/usage.err"); "
    verdict "usage_$name" "serve $* exits 2: $(head -n 1 -- "$tmp/usage.err")"
}

# ---------------------------------------------------------------------------------------------------------
# Start every server at once (they load in parallel).

text_model=$tmp/tiny-qwen36-text
mkdir -- "$text_model"
for f in "$model"/*; do
    case ${f##*/} in
    model.safetensors | preprocessor_config.json | video_preprocessor_config.json) ;;
    *) cp -- "$f" "$text_model/" ;;
    esac
done
check strip-vision "$model" "$text_model" >/dev/null || die "could not write the text-only checkpoint"

want main && start_server main "$model" --threads 2 --max-batch 8 --max-queue 64
want limits && start_server limits "$model" --threads 1 --max-context 64 --max-images 1 --max-body-bytes 65536
want queue && start_server queue "$model" --threads 1 --max-batch 1 --max-queue 1
want key && start_server key "$model" --threads 1 --api-key sekrit-key-1
want text && start_server text "$text_model" --threads 1
want term && start_server term "$model" --threads 1 --shutdown-grace-s 2

if want usage; then
    usage_case no_model "--model"
    usage_case unknown_option "--frobnicate" --model "$model" --frobnicate 1
    usage_case port_not_a_number "--port" --model "$model" --port eighty
    usage_case port_too_big "--port" --model "$model" --port 70000
    usage_case max_batch_0 "--max-batch" --model "$model" --max-batch 0
fi

for s in main limits queue key text term; do
    want "$s" || continue
    await_server "$s"
    verdict "start_$s" "listening line, /health ($health_note)"
done
ready() { [[ -n ${PORT[$1]:-} ]] && alive "$1"; }

# long_request SERVER: a greedy request that runs as long as any found. The tiny model's greedy answers end at
# an eos after a few hundred to a few thousand tokens (at ~3000 tokens/s on one core: 0.1-1 s), and nothing
# in the API forbids an eos; so a few prompts holding "<|endoftext|>", with repetition_penalty 2 (the eos
# ids seen in the prompt are penalised) and max_tokens up to the context, are each sent whole once, and the
# one with the most tokens is kept: $tmp/long.req (streamed), $tmp/long_whole.req, long_tokens.
long_request() {
    local srv=$1 p c n best=-1
    [[ -n ${long_tokens:-} ]] && return 0
    req lm "$srv" GET /v1/models
    c=$(check models "$tmp/lm" "$(basename -- "$model")" true 2>/dev/null) || c=4096
    for p in "Tell me a long story. <|endoftext|>" "Hi. <|endoftext|>" "Write a very long text. <|endoftext|>"; do
        body "$p" $((c - 64)) '{"repetition_penalty": 2.0}' >"$tmp/lc.req"
        req lc "$srv" POST /v1/chat/completions "$tmp/lc.req"
        [[ $code == 200 ]] && check completion "$tmp/lc" >"$tmp/lc.sum" || continue
        n=$(field lc usage.1)
        if ((n > best)); then
            best=$n
            cp -- "$tmp/lc.req" "$tmp/long_whole.req"
            body "$p" $((c - 64)) '{"repetition_penalty": 2.0, "stream": true}' >"$tmp/long.req"
        fi
    done
    ((best > 0)) && long_tokens=$best
}

# stream_ms SERVER: the time (ms) the long request takes streamed to its end on SERVER; sets code.
stream_ms() {
    local t0
    t0=$(date +%s%N)
    req long_full "$1" POST /v1/chat/completions "$tmp/long.req"
    echo $((($(date +%s%N) - t0) / 1000000))
}

# The reference request of most cases: greedy, thinking off (all text is content).
NOTHINK='"chat_template_kwargs": {"enable_thinking": false}'
ref_body=$(body "Write a short poem about the sea." 16 "{$NOTHINK}")

# ---------------------------------------------------------------------------------------------------------
if want main && ready main; then
    base=$(basename -- "$model")

    why=
    req models main GET /v1/models
    if [[ $code == 200 ]]; then
        ctx=$(check models "$tmp/models" "$base" true) || why+="$ctx; "
    else why+="HTTP $code; "; fi
    verdict models "/v1/models: one model, id '$base', owned_by vlgraph, vision true, max_model_len ${ctx:-?}"
    [[ ${ctx:-} =~ ^[0-9]+$ ]] || ctx=4096

    # thinking on (the default): with the random model the think block most likely never closes, so the
    # text is reasoning; only what is deterministic is compared.
    why=
    chat think main "$(body "Write a short poem about the sea." 16)"
    if expect_completion think --max-tokens 16; then
        [[ $(field think content)$(field think reasoning) != '""""' ]] || why+="no text at all; "
    fi
    verdict chat_thinking "greedy, 16 tokens, enable_thinking default: chat.completion shape, usage sums, finish_reason, some text"

    why=
    chat think2 main "$(cat -- "$tmp/think.req")"
    expect_completion think2 --max-tokens 16 && same think2 think
    verdict chat_greedy_repeatable "the same greedy request twice: the same content, reasoning, finish_reason, usage"

    why=
    chat think_s main "$(body "Write a short poem about the sea." 16 '{"stream": true, "stream_options": {"include_usage": true}}')"
    expect_stream think_s --usage --max-tokens 16 && same think_s think
    verdict stream_thinking "streamed (include_usage): every chunk JSON/UTF-8, role first, one finish_reason, usage chunk, [DONE]; reasoning and content deltas concatenate to the whole answer's, usage equal"

    why=
    chat think_s2 main "$(body "Write a short poem about the sea." 16 '{"stream": true}')"
    expect_stream think_s2 && same think_s2 think "content reasoning finish_reason"
    verdict stream_without_usage "streamed without include_usage: no usage chunk, the same text"

    why=
    printf '%s' "$ref_body" >"$tmp/ref.req"
    chat ref main "$ref_body"
    if expect_completion ref --max-tokens 16 --no-reasoning; then
        [[ $(field ref content) != '""' ]] || why+="empty content; "
    fi
    verdict chat_no_thinking "enable_thinking false: no reasoning_content, non-empty content ($(field ref content 2>/dev/null | head -c 60))"

    why=
    chat ref_s main "$(body "Write a short poem about the sea." 16 "{$NOTHINK, \"stream\": true, \"stream_options\": {\"include_usage\": true}}")"
    expect_stream ref_s --usage --max-tokens 16 --no-reasoning && same ref_s ref
    verdict stream_no_thinking "enable_thinking false streamed: no reasoning deltas, content deltas = the whole content, usage equal"

    why=
    chat mct main "$(body "Write a short poem about the sea." 0 "{$NOTHINK, \"max_tokens\": null, \"max_completion_tokens\": 8}")"
    if expect_completion mct --max-tokens 8 --no-reasoning; then
        o=$(check prefix "$tmp/mct.sum" "$tmp/ref.sum") || why+="$o; "
    fi
    verdict max_completion_tokens "max_completion_tokens 8: at most 8 tokens, a prefix of the 16-token greedy answer"

    why=
    chat ignored main "$(body "Write a short poem about the sea." 16 "{$NOTHINK, \"model\": \"gpt-4o-mini\", \"frobnicate\": {\"x\": [1, 2]}, \"user\": \"u-1\"}")"
    expect_completion ignored && same ignored ref
    verdict model_and_unknown_fields "model \"gpt-4o-mini\" and unknown fields: accepted, the same answer"

    why=
    chat parts main "$(body x 16 "{$NOTHINK, \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Write a short poem about the sea.\"}]}]}")"
    expect_completion parts && same parts ref
    verdict content_parts "content as [{type: text}]: the same answer as the string content"

    why=
    chat turns main "$(body x 16 "{$NOTHINK, \"messages\": [{\"role\": \"system\", \"content\": \"You are terse.\"}, {\"role\": \"user\", \"content\": \"Hi.\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"}, {\"role\": \"user\", \"content\": \"Write a short poem about the sea.\"}]}")"
    if expect_completion turns --max-tokens 16 --no-reasoning; then
        p1=$(field turns usage.0)
        p0=$(field ref usage.0)
        ((p1 > p0 + 6)) || why+="prompt_tokens $p1 with system and two more turns, $p0 without; "
    fi
    verdict system_assistant_turns "system, user, assistant, user: 200, prompt_tokens ${p1:-?} > ${p0:-?} of the last turn alone"

    # stop strings: one taken from the middle of the reference content; the answer is the content before it.
    why=
    if se=$(check stop-expect "$tmp/ref.sum"); then
        printf '%s\n' "$se" >"$tmp/se.json"
        stop=$(check get "$tmp/se.json" stop --json)
        expect=$(check get "$tmp/se.json" expect --json)
        chat stop1 main "$(body "Write a short poem about the sea." 16 "{$NOTHINK, \"stop\": $stop}")"
        if expect_completion stop1 --max-tokens 16; then
            [[ $(field stop1 content) == "$expect" ]] || why+="content $(field stop1 content), expected $expect; "
            [[ $(field stop1 finish_reason) == '"stop"' ]] || why+="finish_reason $(field stop1 finish_reason), expected stop; "
        fi
        chat stop2 main "$(body "Write a short poem about the sea." 16 "{$NOTHINK, \"stop\": [\"@@never@@\", $stop], \"stream\": true}")"
        if expect_stream stop2; then
            [[ $(field stop2 content) == "$expect" && $(field stop2 finish_reason) == '"stop"' ]] ||
                why+="streamed with stop [never, $stop]: content $(field stop2 content), finish $(field stop2 finish_reason); "
        fi
    else
        why+="$se; "
    fi
    verdict stop_strings "stop ${stop:-?} (string, and in a list, streamed): content cut before it (${expect:-?}), finish_reason stop"

    why=
    samp='"temperature": 0.8, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.1, "seed": 1234'
    chat samp1 main "$(body "Name three colours." 16 "{$NOTHINK, $samp}")"
    chat samp2 main "$(body "Name three colours." 16 "{$NOTHINK, $samp}")"
    expect_completion samp1 --max-tokens 16 --no-reasoning && expect_completion samp2 --max-tokens 16 && same samp2 samp1
    verdict sampling_seed "temperature 0.8, top_p, top_k, repetition_penalty, seed 1234: accepted; the same seed twice, the same answer"

    # images: img_a is 128x160, 4x5 merged 32-pixel patches = 20 image tokens at least.
    why=
    chat img_txt main "$(body "Describe the image." 16 "{$NOTHINK}")"
    chat img main "$(body "Describe the image." 16 "{$NOTHINK}" --image "$images/img_a_128x160.png")"
    if expect_completion img_txt && expect_completion img --max-tokens 16 --no-reasoning; then
        pt=$(field img_txt usage.0)
        pi=$(field img usage.0)
        ((pi >= pt + 20)) || why+="prompt_tokens $pi with the image, $pt without: not >= +20; "
    fi
    verdict image "a PNG data: URI (128x160): 200, prompt_tokens ${pi:-?} >= ${pt:-?} + 20 image tokens"

    why=
    chat img_s main "$(body "Describe the image." 16 "{$NOTHINK, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" --image "$images/img_a_128x160.png")"
    expect_stream img_s --usage --max-tokens 16 && same img_s img
    verdict image_stream "the image request streamed: the same content and usage"

    why=
    chat img2 main "$(body "Compare the images." 16 "{$NOTHINK}" --image "$images/img_b_96x64.jpg" --image "$images/img_d_rgba_64x96.png")"
    if expect_completion img2 --max-tokens 16; then
        p2=$(field img2 usage.0)
        chat img2_txt main "$(body "Compare the images." 16 "{$NOTHINK}")"
        expect_completion img2_txt && { p2t=$(field img2_txt usage.0); ((p2 >= p2t + 12)) || why+="prompt_tokens $p2 with two images, $p2t without; "; }
    fi
    verdict images_jpeg_rgba "a JPEG and an RGBA PNG in one message: 200, prompt_tokens ${p2:-?} >= ${p2t:-?} + 2 x 6"

    # 8 different requests (7 texts, thinking on and off, 16..32 tokens, and 1 image), streamed one by one,
    # then all 8 at once: continuous batching must not change a greedy answer.
    why=
    prompts=("Tell me about rivers." "What is a prime number?" "List four fruits." "Explain gravity simply."
        "Say something about cats." "Count from one to ten." "Describe a city at night." "What is in the picture?")
    for i in 0 1 2 3 4 5 6 7; do
        extra="\"stream\": true, \"stream_options\": {\"include_usage\": true}"
        ((i % 2)) && extra+=", $NOTHINK"
        img=()
        ((i == 7)) && img=(--image "$images/img_c_125x94.png")
        body "${prompts[i]}" $((16 + (i % 3) * 8)) "{$extra}" "${img[@]}" >"$tmp/c$i.req"
        chat "seq$i" main "$(cat -- "$tmp/c$i.req")"
        expect_stream "seq$i" --usage
    done
    pids=()
    for i in 0 1 2 3 4 5 6 7; do
        (
            chat "con$i" main "$(cat -- "$tmp/c$i.req")"
            echo "$code" >"$tmp/con$i.code"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    for i in 0 1 2 3 4 5 6 7; do
        code=$(cat -- "$tmp/con$i.code")
        w0=$why
        expect_stream "con$i" --usage && same "con$i" "seq$i"
        [[ $why == "$w0" ]] || why="$w0 request $i (${prompts[i]}): ${why#"$w0"}"
    done
    verdict concurrent_8_equal_sequential "8 streamed greedy requests (16-32 tokens, one with an image) at once: each answer = the same request alone"

    # Request errors; after each, the reference request is answered as before.
    err_case() {  # err_case NAME STATUS PARAM WHAT (the response in $tmp/err)
        local name=$1 status=$2 param=$3 what=$4
        expect_error err "$status" ${param:+"$param"}
        still_serves main ref || why+="(the request after it); "
        verdict "error_$name" "$what -> $status${param:+ param $param}, OpenAI error body ($(printf '%s' "${err_msg:-}" | head -c 80)); then served as before"
        err_msg=
    }
    why=; chat err main '{"model": "x", "messages": [{"role": "user", "content": "hi"}'
    err_case malformed_json 400 "" "truncated JSON"
    why=; chat err main '[1, 2, 3]'
    err_case body_not_object 400 "" "a JSON array as the body"
    why=; chat err main "$(body hi 4 '{"temperature": "hot"}')"
    err_case temperature_string 400 temperature '"temperature": "hot"'
    why=; chat err main "$(body hi 4 '{"max_tokens": "many"}')"
    err_case max_tokens_string 400 max_tokens '"max_tokens": "many"'
    why=; chat err main '{"model": "x", "messages": "hi", "max_tokens": 4}'
    err_case messages_string 400 messages '"messages": "hi"'
    why=; chat err main '{"model": "x", "max_tokens": 4}'
    err_case messages_missing 400 messages 'no messages'
    why=; chat err main "$(body hi 4 '{"n": 2}')"
    err_case n_2 400 n '"n": 2'
    why=; chat err main "$(body hi 4 '{"stop": ["a", "b", "c", "d", "e"]}')"
    err_case stop_5 400 stop '5 stop strings'
    why=; chat err main "$(body hi 4 '{"stop": 7}')"
    err_case stop_number 400 stop '"stop": 7'

    # image URLs other than data: are refused and never fetched: a local HTTP server counts the requests.
    python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$tmp" >"$tmp/http.log" 2>&1 </dev/null &
    extra_pids+=($!)
    hport=
    for _ in $(seq 100); do
        hport=$(sed -n -E 's/^Serving HTTP on .* port ([0-9]+).*/\1/p' -- "$tmp/http.log")
        [[ -n $hport ]] && break
        sleep 0.05
    done
    cp -- "$images/img_b_96x64.png" "$tmp/i.png"
    url_body() { body "What is this?" 4 "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"$1\"}}, {\"type\": \"text\", \"text\": \"What is this?\"}]}]}"; }
    for u in "http http://127.0.0.1:${hport:-9}/i.png" "https https://127.0.0.1:${hport:-9}/i.png" "file file://$tmp/i.png" "path $tmp/i.png"; do
        n=${u%% *}
        u=${u#* }
        why=
        [[ -n $hport ]] || why+="setup: the local HTTP server did not start; "
        chat err main "$(url_body "$u")"
        if grep -q '^127\.0\.0\.1 - -' -- "$tmp/http.log"; then why+="the URL was fetched: $(grep '^127\.0\.0\.1 - -' -- "$tmp/http.log" | head -n 1); "; fi
        err_case "image_url_$n" 400 "" "image_url '$u' (not fetched)"
    done
    why=; chat err main "$(url_body 'data:image/png;base64,AAAAAAAAAAAAAAAA')"
    err_case image_undecodable 400 "" "a data: URI of 12 zero bytes as PNG"
    why=; chat err main "$(url_body 'data:image/png;base64,!!!!')"
    err_case image_bad_base64 400 "" "a data: URI with invalid base64"
    why=; req err main GET /v1/chat/completions
    err_case get_chat_completions "404|405" "" "GET /v1/chat/completions"
    why=; req err main GET /v1/nope
    err_case unknown_path 404 "" "GET /v1/nope"
    why=; req err main POST /nope "$tmp/ref.req"
    err_case unknown_path_post 404 "" "POST /nope"

    # A client that goes away mid-stream (after a quarter of the long request's time): the server keeps
    # answering at once.
    why=
    if long_request main; then
        full_ms=$(stream_ms main)
        disc_ms=$((full_ms / 4 > 100 ? full_ms / 4 : 100))
        max_time=$(printf '%d.%03d' $((disc_ms / 1000)) $((disc_ms % 1000))) req gone main POST /v1/chat/completions "$tmp/long.req"
        [[ $code == curl-28 ]] || why+="the $long_tokens-token stream ($full_ms ms to its end) was not still running after $disc_ms ms (curl: $code); "
    else
        why+="setup: no long request (HTTP $code); "
    fi
    t0=$(date +%s%N)
    max_time=10 req gone_h main GET /health
    [[ $code == 200 ]] || why+="/health HTTP $code after the disconnect; "
    max_time=20 still_serves main ref
    ms=$((($(date +%s%N) - t0) / 1000000))
    verdict disconnect "a client leaves a ${long_tokens:-?}-token stream (${full_ms:-?} ms to its end) after ${disc_ms:-?} ms; then /health 200 and the reference request as before (${ms} ms)"
fi

# ---------------------------------------------------------------------------------------------------------
if want limits && ready limits; then
    why=
    req lmodels limits GET /v1/models
    [[ $code == 200 ]] && o=$(check models "$tmp/lmodels" "$(basename -- "$model")" true 64) || why+="HTTP $code ${o:-}; "
    verdict limits_models "--max-context 64: /v1/models max_model_len 64"

    why=
    printf '%s' "$(body "Hi." 8 "{$NOTHINK}")" >"$tmp/lref.req"
    chat lref limits "$(cat -- "$tmp/lref.req")"
    if expect_completion lref --max-tokens 8; then
        (($(field lref usage.2) <= 64)) || why+="total_tokens $(field lref usage.2) over 64; "
    fi
    verdict limits_control "a short prompt and max_tokens 8 within a 64-token context: 200"

    why=
    chat lnomax limits "$(body "Hi." 0 "{$NOTHINK, \"max_tokens\": null}")"
    if expect_completion lnomax; then
        (($(field lnomax usage.2) <= 64)) || why+="total_tokens $(field lnomax usage.2) over 64; "
    fi
    verdict limits_no_max_tokens "no max_tokens in a 64-token context: 200, total_tokens $(field lnomax usage.2 2>/dev/null) <= 64"

    why=
    long="The quick brown fox jumps over the lazy dog. "
    long=$long$long$long$long$long$long$long$long$long$long
    chat err limits "$(body "$long" 4)"
    expect_error err 400
    still_serves limits lref || why+="(the request after it); "
    verdict limits_long_prompt "a ~100-token prompt in a 64-token context -> 400 ($(printf '%s' "${err_msg:-}" | head -c 80))"

    why=
    chat err limits "$(body "Hi." 1000)"
    expect_error err 400
    still_serves limits lref || why+="(the request after it); "
    verdict limits_max_tokens "max_tokens 1000 in a 64-token context -> 400 ($(printf '%s' "${err_msg:-}" | head -c 80))"

    why=
    chat limg1 limits "$(body "Hi." 4 "{$NOTHINK}" --image "$images/img_b_96x64.png")"
    expect_completion limg1 --max-tokens 4
    chat err limits "$(body "Hi." 4 "{$NOTHINK}" --image "$images/img_b_96x64.png" --image "$images/img_b_96x64.png")"
    expect_error err 400
    still_serves limits lref || why+="(the request after it); "
    verdict limits_max_images "--max-images 1: one 96x64 image 200, two -> 400 ($(printf '%s' "${err_msg:-}" | head -c 80))"

    why=
    pad() { head -c "$1" /dev/zero | tr '\0' x; }
    body "Hi." 4 "{$NOTHINK, \"padding\": \"$(pad 60000)\"}" >"$tmp/under.req"
    req under limits POST /v1/chat/completions "$tmp/under.req"
    expect_completion under --max-tokens 4
    body "Hi." 4 "{$NOTHINK, \"padding\": \"$(pad 120000)\"}" >"$tmp/over.req"
    req err limits POST /v1/chat/completions "$tmp/over.req"
    expect_error err 413
    still_serves limits lref || why+="(the request after it); "
    verdict limits_body_bytes "--max-body-bytes 65536: a 60 KB body 200, a 120 KB body -> 413 with an OpenAI error body"
fi

# ---------------------------------------------------------------------------------------------------------
if want queue && ready queue; then
    long_request queue

    # 6 long requests at once on 1 slot + 1 queue place: some 429 at once, the others complete.
    why=
    pids=()
    for i in 0 1 2 3 4 5; do
        (
            req "q$i" queue POST /v1/chat/completions "$tmp/long_whole.req"
            echo "$code" >"$tmp/q$i.code"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    n429=0 n200=0
    for i in 0 1 2 3 4 5; do
        code=$(cat -- "$tmp/q$i.code")
        if [[ $code == 429 ]]; then
            expect_error "q$i" 429 && ((n429 += 1))
        else
            expect_completion "q$i" && ((n200 += 1))
        fi
    done
    ((n429 >= 1)) || why+="no 429 among 6 concurrent requests; "
    ((n200 >= 1)) || why+="none completed; "
    verdict queue_full_429 "--max-batch 1 --max-queue 1, 6 concurrent ${long_tokens:-?}-token requests: $n429 x 429 (OpenAI error body), $n200 x 200 complete"

    why=
    printf '%s' "$(body "Hi." 4 "{$NOTHINK}")" >"$tmp/qref.req"
    chat qref queue "$(cat -- "$tmp/qref.req")"
    expect_completion qref --max-tokens 4
    verdict queue_after_429 "then a normal request: 200"

    # The only slot: a client that leaves the long stream after a quarter of its time must free it. The next
    # request then takes as long as alone; had the abandoned one gone on, it would wait for its rest (3/4 of
    # its time): the bound is the time alone + half of that rest.
    why=
    full_ms=$(stream_ms queue)
    [[ $code == 200 ]] || why+="setup: the long request streamed: HTTP $code; "
    t0=$(date +%s%N)
    chat probe queue "$(cat -- "$tmp/qref.req")"
    alone_ms=$((($(date +%s%N) - t0) / 1000000))
    disc_ms=$((full_ms / 4 > 100 ? full_ms / 4 : 100))
    max_time=$(printf '%d.%03d' $((disc_ms / 1000)) $((disc_ms % 1000))) req qgone queue POST /v1/chat/completions "$tmp/long.req"
    got=$(grep -c '^data: ' -- "$tmp/qgone" 2>/dev/null)
    [[ $code == curl-28 ]] || why+="the ${long_tokens:-?}-token stream ($full_ms ms to its end) was not still running after $disc_ms ms (curl: $code); "
    ((got >= 1)) || why+="no chunk before the client left: too early to tell; "
    t0=$(date +%s%N)
    max_time=30 chat probe queue "$(cat -- "$tmp/qref.req")"
    ms=$((($(date +%s%N) - t0) / 1000000))
    expect_completion probe && same probe qref
    bound=$((alone_ms + (full_ms - disc_ms) / 2))
    ((ms <= bound)) || why+="the next request took $ms ms (alone $alone_ms ms; bound $bound ms: the abandoned request kept the slot); "
    max_time=5 req qh queue GET /health
    [[ $code == 200 ]] || why+="/health HTTP $code; "
    verdict disconnect_frees_slot "1 slot: a client leaves a ${long_tokens:-?}-token stream ($full_ms ms to its end) after $disc_ms ms ($got chunks); the next request took $ms ms (alone $alone_ms, bound $bound), /health 200"
fi

# ---------------------------------------------------------------------------------------------------------
if want key && ready key; then
    auth_case() {  # auth_case NAME EXPECT_STATUS METHOD PATH BODY CURL_ARGS...
        local name=$1 status=$2 method=$3 path=$4 b=$5
        shift 5
        why=
        req k key "$method" "$path" "$b" "$@"
        if [[ $status == 200 ]]; then
            if [[ $path == /v1/models ]]; then
                [[ $code == 200 ]] && o=$(check models "$tmp/k" "$(basename -- "$model")" true) || why+="HTTP $code ${o:-}; "
            else expect_completion k; fi
        else
            expect_error k "$status"
        fi
        verdict "api_key_$name" "$method $path ${*:-without Authorization} -> $status"
    }
    printf '%s' "$(body "Hi." 4)" >"$tmp/kref.req"
    auth_case models_none 401 GET /v1/models ''
    auth_case models_wrong 401 GET /v1/models '' -H 'Authorization: Bearer wrong-key'
    auth_case models_right 200 GET /v1/models '' -H 'Authorization: Bearer sekrit-key-1'
    auth_case chat_none 401 POST /v1/chat/completions "$tmp/kref.req"
    auth_case chat_wrong 401 POST /v1/chat/completions "$tmp/kref.req" -H 'Authorization: Bearer sekrit-key-10'
    auth_case chat_right 200 POST /v1/chat/completions "$tmp/kref.req" -H 'Authorization: Bearer sekrit-key-1'
fi

# ---------------------------------------------------------------------------------------------------------
if want text && ready text; then
    why=
    req tmodels text GET /v1/models
    [[ $code == 200 ]] && o=$(check models "$tmp/tmodels" tiny-qwen36-text false) || why+="HTTP $code ${o:-}; "
    verdict text_only_models "a checkpoint without model.visual.* and preprocessor_config.json: id tiny-qwen36-text, vision false"

    why=
    printf '%s' "$(body "Hi." 8 "{$NOTHINK}")" >"$tmp/tref.req"
    chat tref text "$(cat -- "$tmp/tref.req")"
    expect_completion tref --max-tokens 8 --no-reasoning
    verdict text_only_chat "a text request: 200"

    why=
    chat err text "$(body "Hi." 8 "{$NOTHINK}" --image "$images/img_b_96x64.png")"
    expect_error err 400
    still_serves text tref || why+="(the request after it); "
    verdict text_only_image "an image request -> 400 ($(printf '%s' "${err_msg:-}" | head -c 80)); then served as before"
fi

# ---------------------------------------------------------------------------------------------------------
if want term && ready term; then
    why=
    long_request term
    cp -- "$tmp/long.req" "$tmp/term.req"
    (
        max_time=30 req term_s term POST /v1/chat/completions "$tmp/term.req"
        echo "$code" >"$tmp/term_s.code"
    ) &
    client=$!
    deadline=$((SECONDS + 20))
    until grep -q '^data: ' -- "$tmp/term_s" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.05; done
    grep -q '^data: ' -- "$tmp/term_s" 2>/dev/null || why+="setup: no chunk within 20 s; "
    kill -TERM "${PID[term]}"
    t0=$(date +%s%N)
    # stop accepting: a new request is refused (no connection, or an error status), never answered 200
    max_time=5 chat term_new term "$(body "Hi." 4)"
    [[ $code != 200 ]] || why+="a request sent after SIGTERM was answered 200; "
    deadline=$((SECONDS + 7))
    while alive term && ((SECONDS < deadline)); do sleep 0.05; done
    ms=$((($(date +%s%N) - t0) / 1000000))
    if alive term; then
        why+="still running 7 s after SIGTERM (grace 2 s); "
        kill -KILL "${PID[term]}"
        wait "${PID[term]}" 2>/dev/null
    else
        wait "${PID[term]}"
        rc=$?
        ((rc == 0)) || why+="exit status $rc after SIGTERM: $(tail_of "$tmp/term.err"); "
    fi
    unset 'PID[term]'
    deadline=$((SECONDS + 10))
    while kill -0 "$client" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -0 "$client" 2>/dev/null && why+="the streaming client still waits 10 s after the exit; "
    verdict sigterm "SIGTERM while a request streams (--shutdown-grace-s 2): new request refused (${code}), exit 0 after $ms ms (<= 7 s)"
fi

# ---------------------------------------------------------------------------------------------------------
# Every server left: alive still (no crash on the way), and SIGTERM when idle exits 0 within 15 s.
for s in main limits queue key text; do
    [[ -n ${PID[$s]:-} ]] || continue
    why=
    if ! alive "$s"; then
        wait "${PID[$s]}"
        why="died during the tests, exit status $?: $(tail_of "$tmp/$s.err")"
    else
        kill -TERM "${PID[$s]}"
        deadline=$((SECONDS + 15))
        while alive "$s" && ((SECONDS < deadline)); do sleep 0.05; done
        if alive "$s"; then
            why="still running 15 s after SIGTERM"
        else
            wait "${PID[$s]}"
            rc=$?
            ((rc == 0)) || why="exit status $rc after SIGTERM: $(tail_of "$tmp/$s.err")"
        fi
    fi
    unset "PID[$s]"
    verdict "exit_$s" "alive after its cases; idle SIGTERM -> exit 0"
done

echo
echo "$n_pass passed, ${#failures[@]} failed ($((SECONDS - t_start)) s)${failures[*]:+: ${failures[*]}}"
((${#failures[@]} == 0))
