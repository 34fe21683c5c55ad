#!/usr/bin/env python3
"""tests/server/openai_client.py — `vlgraph serve` through the official `openai` Python client.

    tests/server/openai_client.py VLGRAPH_CLI MODEL_DIR

Exit 77 (CTest: skipped) when `import openai` fails (scripts/install-deps.sh installs it when pip can).
Starts one server on a free port, then through openai.OpenAI(base_url=.../v1, api_key="none", max_retries=0):
  - models.list(): one model, the checkpoint's directory name, vision true (in model_extra);
  - a greedy chat with an image (PNG data: URI), whole: choices[0].message.content / reasoning_content
    (an extra field: attribute or model_extra), finish_reason, usage summing up, prompt tokens counting the
    image (more than the same text alone);
  - the same request streamed (stream=True, stream_options include_usage): the deltas concatenate to the
    whole answer, the last chunk carries usage equal to the whole answer's;
  - extra_body={"chat_template_kwargs": {"enable_thinking": False}}: the text is content, no reasoning;
  - n=2: openai.BadRequestError (HTTP 400) whose body names param "n".
Each check prints PASS/FAIL; exit 0 only when all pass.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_proc import Server, ServerError, check, data_uri, failures, images_dir, import_openai  # noqa: E402

openai = import_openai()


def extra(obj, key):
    """An extra (non-OpenAI) field of a client object: an attribute, or in model_extra."""
    v = getattr(obj, key, None)
    if v is None and getattr(obj, "model_extra", None):
        v = obj.model_extra.get(key)
    return v


def main():
    if len(sys.argv) != 3:
        print("usage: openai_client.py VLGRAPH_CLI MODEL_DIR", file=sys.stderr)
        return 2
    cli, model = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    image = data_uri(os.path.join(images_dir(), "img_a_128x160.png"))
    try:
        server = Server(cli, model, ["--threads", "2"])
        server.start()
    except ServerError as e:
        print(f"FAIL start: {e}")
        return 1
    try:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="none", max_retries=0, timeout=60)

        models = client.models.list().data
        name = os.path.basename(model)
        check("models", len(models) == 1 and models[0].id == name
              and (extra(models[0], "capabilities") or {}).get("vision") is True,
              f"models.list(): [{name}], capabilities.vision true (got {[m.model_dump() for m in models]})"[:300])

        def messages(text, with_image=True):
            parts = [{"type": "image_url", "image_url": {"url": image}}] if with_image else []
            return [{"role": "user", "content": parts + [{"type": "text", "text": text}]}]

        req = dict(model=name, messages=messages("Describe the image."), temperature=0, max_tokens=16)
        r = client.chat.completions.create(**req)
        m = r.choices[0].message
        content, reasoning = m.content or "", extra(m, "reasoning_content") or ""
        u = r.usage
        check("image_whole", r.object == "chat.completion" and m.role == "assistant"
              and r.choices[0].finish_reason in ("stop", "length") and (content or reasoning)
              and u is not None and u.total_tokens == u.prompt_tokens + u.completion_tokens
              and 0 < u.completion_tokens <= 16,
              f"image chat: finish {r.choices[0].finish_reason}, {len(content)} chars content, "
              f"{len(reasoning)} chars reasoning, usage {u}")
        t = client.chat.completions.create(**dict(req, messages=messages("Describe the image.", False)))
        check("image_tokens", u is not None and t.usage.prompt_tokens + 20 <= u.prompt_tokens,
              f"prompt_tokens with the 128x160 image {u.prompt_tokens if u else None} >= "
              f"{t.usage.prompt_tokens} without + 20")

        stream = client.chat.completions.create(**req, stream=True, stream_options={"include_usage": True})
        s_content, s_reasoning, finish, s_usage, n_chunks, first_role = [], [], None, None, 0, None
        for chunk in stream:
            n_chunks += 1
            if chunk.usage is not None:
                s_usage = chunk.usage
            if not chunk.choices:
                continue
            d = chunk.choices[0].delta
            if first_role is None:
                first_role = d.role or ""
            s_content.append(d.content or "")
            s_reasoning.append(extra(d, "reasoning_content") or "")
            finish = chunk.choices[0].finish_reason or finish
        check("image_stream", first_role == "assistant" and "".join(s_content) == content
              and "".join(s_reasoning) == reasoning and finish == r.choices[0].finish_reason
              and s_usage is not None and s_usage.model_dump() == u.model_dump(),
              f"stream=True, {n_chunks} chunks: deltas = the whole answer, usage {s_usage} = {u}")

        r2 = client.chat.completions.create(**req, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
        m2 = r2.choices[0].message
        check("no_thinking", bool(m2.content) and not extra(m2, "reasoning_content") and r2.usage is not None,
              f"extra_body enable_thinking False: content {m2.content!r:.60}, reasoning "
              f"{extra(m2, 'reasoning_content')!r:.40}, usage {r2.usage}")

        try:
            client.chat.completions.create(**req, n=2)
            check("n_2", False, "n=2 was accepted")
        except openai.BadRequestError as e:
            body = e.body if isinstance(e.body, dict) else {}
            body = body.get("error", body)  # the client unwraps {"error": ...} in some versions
            check("n_2", e.status_code == 400 and body.get("param") == "n",
                  f"n=2: BadRequestError {e.status_code}, param {body.get('param')!r}")

        check("alive", server.alive(), "the server is still running")
    except openai.APIError as e:
        check("client", False, f"{type(e).__name__}: {e}")
    finally:
        rc = server.stop()
    check("sigterm", rc == 0, f"SIGTERM: exit status {rc}")
    print(f"{'all passed' if not failures else 'FAILED: ' + ' '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
