#!/usr/bin/env python3
"""tests/server/load_test.py — `vlgraph serve` under twice the load it sustains (python3 standard library).

    tests/server/load_test.py VLGRAPH_CLI MODEL_DIR [--seconds 120] [--factor 2]

1. Starts a server: --max-batch 2 --max-queue 2 (small, so that overload is refused with 429 instead of
   queueing without bound), --threads 2.
2. Measures the sustainable rate: sequential requests for ~10 s (also the warm-up: every code path, the
   image one included, has run and the allocator holds its working set) -> R requests/s.
3. Offers factor x R requests/s (Poisson arrivals, a fixed seed) for --seconds: a mix of streamed and whole,
   greedy and sampled, text and (every 4th) image requests of 8-32 tokens, each on its own thread.
   VmRSS of the server is sampled every 0.25 s.
4. Checks:
   - the process is alive at the end, /health is 200, and a SIGTERM afterwards exits 0;
   - 429s occurred (overload is refused, not queued without bound), each an OpenAI error body;
   - every request not refused with 429 completed: 200, a valid body with a finish_reason (streamed: a
     finish_reason chunk and [DONE]); no other status, no connection error, no timeout;
   - RSS flat after warm-up: max over the last third <= max over the first third x 1.2 + 20 MB. The first
     third already saw the peak shapes (overload fills all batch and queue slots within the first seconds,
     image and text prefills of every length included), so a healthy server is at its plateau there; the
     slack allows allocator noise (glibc arenas of the client connection threads, fragmentation), ~10 MB on
     the tiny model. A leak of 20 kB a request (a prompt's token ids, an image's pixels or one KV block
     kept) adds more than that over ~1000 requests between the thirds, and fails.
Prints the figures: offered rate, completed/s, 429 count, TTFT p50/p99 (streamed requests: the time to the
first content or reasoning delta), RSS min/max (MB). Exit 0 when every check passes, 1 otherwise.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_proc import Server, ServerError, data_uri, images_dir  # noqa: E402

PROMPTS = ["Tell me about rivers.", "What is a prime number?", "List four fruits.", "Explain gravity simply.",
           "Say something about cats.", "Count from one to ten.", "Describe a city at night.", "Why is the sky blue?"]
REQUEST_TIMEOUT_S = 60


def make_request(i, image):
    rnd = random.Random(i)
    content = rnd.choice(PROMPTS) + f" (request {i})"
    if i % 4 == 3:
        content = [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": content}]
    body = {"model": "tiny", "messages": [{"role": "user", "content": content}],
            "max_tokens": rnd.choice([8, 16, 24, 32]), "stream": i % 2 == 0}
    if i % 3 == 0:
        body.update(temperature=0.8, top_p=0.9, seed=i)
    else:
        body["temperature"] = 0
    if i % 5 == 0:
        body["chat_template_kwargs"] = {"enable_thinking": False}
    return body


def send(port, body):
    """One request. Returns a dict: status, ok (a complete valid answer), ttft (s, streamed), error."""
    out = {"status": None, "ok": False, "ttft": None, "error": None}
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        out["status"] = r.status
        if r.status != 200:
            raw = r.read()
            try:
                e = json.loads(raw)["error"]
                assert isinstance(e["message"], str) and "type" in e
            except Exception:
                out["error"] = f"HTTP {r.status} without an OpenAI error body: {raw[:200]!r}"
            return out
        if not body["stream"]:
            j = json.loads(r.read())
            fr = j["choices"][0]["finish_reason"]
            out["ok"] = fr in ("stop", "length") and j["usage"]["completion_tokens"] <= body["max_tokens"]
            if not out["ok"]:
                out["error"] = f"finish_reason {fr!r}, usage {j.get('usage')}"
            return out
        finish, done = None, False
        while True:
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                break
            k = json.loads(data)
            for ch in k.get("choices", []):
                d = ch.get("delta", {})
                if out["ttft"] is None and (d.get("content") or d.get("reasoning_content")):
                    out["ttft"] = time.monotonic() - t0
                finish = ch.get("finish_reason") or finish
        out["ok"] = done and finish in ("stop", "length")
        if not out["ok"]:
            out["error"] = f"stream ended without finish_reason and [DONE] (finish {finish!r}, done {done})"
        return out
    except Exception as e:  # timeouts, resets, bad JSON: all failures of the server
        out["error"] = f"{type(e).__name__}: {e}"
        return out
    finally:
        try:
            c.close()
        except Exception:
            pass


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cli")
    ap.add_argument("model")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--measure-seconds", type=float, default=10)
    a = ap.parse_args()
    image = data_uri(os.path.join(images_dir(), "img_b_96x64.png"))
    failures = []

    def check(name, cond, what):
        print(f"{'PASS' if cond else 'FAIL'} {name}: {what}", flush=True)
        if not cond:
            failures.append(name)

    try:
        server = Server(os.path.realpath(a.cli), os.path.realpath(a.model),
                        ["--threads", "2", "--max-batch", "2", "--max-queue", "2"])
        server.start()
    except ServerError as e:
        print(f"FAIL start: {e}")
        return 1
    try:
        # 2. sequential: the sustainable rate (and the warm-up)
        t0, n, i = time.monotonic(), 0, 0
        seq_errors = []
        while time.monotonic() - t0 < a.measure_seconds or n < 4:
            res = send(server.port, make_request(i, image))
            i += 1
            if not res["ok"]:
                seq_errors.append(res["error"] or f"HTTP {res['status']}")
                if len(seq_errors) >= 3:
                    break
            n += 1
        rate = n / (time.monotonic() - t0)
        check("sequential", not seq_errors, f"{n} sequential requests: {rate:.1f}/s"
              + (f"; errors: {seq_errors[:3]}" if seq_errors else ""))
        if seq_errors:
            return 1

        # 3. overload: Poisson arrivals at factor x rate
        offered = a.factor * rate
        rss = []  # (t, kB)
        results = []
        lock = threading.Lock()
        stop_sampling = threading.Event()

        def sampler():
            while not stop_sampling.is_set():
                v = server.rss_kb()
                if v is not None:
                    rss.append((time.monotonic(), v))
                stop_sampling.wait(0.25)

        def worker(body):
            res = send(server.port, body)
            with lock:
                results.append(res)

        threading.Thread(target=sampler, daemon=True).start()
        rnd = random.Random(1234)
        threads = []
        start = time.monotonic()
        next_t = start
        j = 1_000_000
        while True:
            next_t += rnd.expovariate(offered)
            if next_t - start > a.seconds:
                break
            time.sleep(max(0.0, next_t - time.monotonic()))
            th = threading.Thread(target=worker, args=(make_request(j, image),), daemon=True)
            j += 1
            th.start()
            threads.append(th)
            threads = [t for t in threads if t.is_alive()] if len(threads) > 256 else threads
        end_offer = time.monotonic()
        drain_deadline = end_offer + REQUEST_TIMEOUT_S + 5
        for th in threads:
            th.join(max(0.0, drain_deadline - time.monotonic()))
        stuck = sum(th.is_alive() for th in threads)
        elapsed = time.monotonic() - start
        stop_sampling.set()

        # 4. checks and figures
        n_sent = j - 1_000_000
        with lock:
            res = list(results)
        n429 = sum(r["status"] == 429 for r in res)
        completed = [r for r in res if r["ok"]]
        bad = [r for r in res if not r["ok"] and r["status"] != 429]
        bad_429 = [r for r in res if r["status"] == 429 and r["error"]]
        ttft = [r["ttft"] for r in completed if r["ttft"] is not None]
        print(f"offered {offered:.1f} req/s ({a.factor:g} x the sequential {rate:.1f}/s) for {a.seconds:g} s: "
              f"{n_sent} sent, {len(completed)} completed ({len(completed) / elapsed:.1f}/s), {n429} x 429, "
              f"{len(bad)} failed, {stuck} unanswered")
        print(f"TTFT (streamed, to the first delta): p50 {pct(ttft, 50) * 1000:.0f} ms, "
              f"p99 {pct(ttft, 99) * 1000:.0f} ms over {len(ttft)}")
        kb = [v for _, v in rss]
        if kb:
            print(f"RSS: min {min(kb) / 1024:.1f} MB, max {max(kb) / 1024:.1f} MB over {len(kb)} samples")
        check("alive", server.alive(), "the server process is alive after the overload")
        status, hb = server.get("/health")
        check("health", status == 200, f"/health after the overload: {status} {hb[:80]!r}")
        check("overload_429", n429 > 0 and not bad_429,
              f"{n429} requests refused with 429 under {a.factor:g}x overload"
              + (f"; without an OpenAI error body: {bad_429[0]['error']}" if bad_429 else ""))
        check("accepted_complete", not bad and stuck == 0 and completed,
              f"{len(completed)} accepted requests all completed with 200 and a finish_reason"
              + (f"; {len(bad)} did not, e.g. {[r['error'] or r['status'] for r in bad[:3]]}" if bad else "")
              + (f"; {stuck} still unanswered {REQUEST_TIMEOUT_S + 5} s after the last arrival" if stuck else ""))
        if len(rss) >= 12:
            t_first, t_last = rss[0][0], rss[-1][0]
            third = (t_last - t_first) / 3
            first = max(v for t, v in rss if t <= t_first + third)
            last = max(v for t, v in rss if t >= t_last - third)
            bound = first * 1.2 + 20 * 1024
            check("rss_flat", last <= bound,
                  f"RSS max {first / 1024:.1f} MB in the first third, {last / 1024:.1f} MB in the last "
                  f"(bound {bound / 1024:.1f} MB = first x 1.2 + 20 MB)")
        else:
            check("rss_flat", False, f"only {len(rss)} RSS samples")
    finally:
        rc = server.stop()
    check("sigterm", rc == 0, f"SIGTERM after the load: exit status {rc}")
    print("all passed" if not failures else "FAILED: " + " ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
