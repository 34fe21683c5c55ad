// examples/vlgraph/serve.hpp — `vlgraph serve`: the OpenAI-compatible HTTP server.
//
//   vlgraph serve --model DIR [--backend cpu|cuda] [--threads N] [--host 127.0.0.1] [--port 8080] [--max-batch 8]
//                 [--max-queue 64] [--max-context N] [--api-key KEY] [--max-body-bytes B] [--max-images N]
//                 [--max-image-pixels P] [--prefill-chunk N] [--prefix-cache-mb M] [--shutdown-grace-s S] [--tensor-parallel N]
//
// The HTTP layer is cpp-httplib (Debian's libcpp-httplib-dev, header-only): a thread pool of blocking
// handlers, chunked responses for server-sent events — all a server needs whose work happens on one
// scheduler thread anyway (docs/serving.md says why not Boost.Beast). This file is the thin binding: the
// request model is vl::serve (openai.hpp), the text pipeline vl::text::stop_matcher and
// vl::qwen36::reasoning_splitter, the work vl::qwen36::serving_engine (continuous batching).
//
// Life cycle: bind (port 0: any free one) and say so on stderr — `vlgraph serve: listening on
// http://HOST:PORT` —, answer /health with 503 and the load progress while the weights load, then serve.
// SIGTERM or SIGINT: new requests get 503, running ones may finish for --shutdown-grace-s, the rest are
// ended, and the program exits 0.
#pragma once

#include "args.hpp"
#include "tensor_parallel.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/prompt.hpp>
#include <vlgraph/models/qwen36/reasoning.hpp>
#include <vlgraph/models/qwen36/tool_calls.hpp>
#include <vlgraph/models/qwen36/serving.hpp>
#include <vlgraph/serve/openai.hpp>
#include <vlgraph/text/stop_strings.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vlcli {

namespace serve_detail {

namespace q = vl::qwen36;
namespace sv = vl::serve;
using namespace std::chrono_literals;

// Whether the client of `req` has closed its connection. cpp-httplib 0.11 does not tell a handler, so the
// connection's socket is found among this process's descriptors by its two addresses (once per request),
// and a non-blocking peek says whether the peer has shut its side down.
class peer_watch {
public:
    explicit peer_watch(const httplib::Request& req) : local_port_(req.local_port), remote_port_(req.remote_port) {}
    bool gone() {
        if (fd_ == -2) fd_ = find();
        if (fd_ < 0) return false;  // not found: assume present (the write of the next chunk will tell)
        char byte;
        const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }

private:
    static int port_of(const sockaddr_storage& a) {
        if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
        if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
        return -1;
    }
    int find() const {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
            const int fd = std::atoi(entry.path().filename().c_str());
            sockaddr_storage local{}, peer{};
            socklen_t a = sizeof local, b = sizeof peer;
            if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &a) != 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &b) != 0) continue;
            if (port_of(local) == local_port_ && port_of(peer) == remote_port_) return fd;
        }
        return -1;
    }
    int local_port_, remote_port_;
    int fd_ = -2;  // -2: not looked for yet
};

// A request's generated text on its way out: stop strings cut it, the reasoning split sorts it.
// What a piece of output adds to the answer: reasoning, content, pieces of tool calls.
struct output_delta {
    std::string reasoning, content;
    std::vector<q::tool_call_delta> calls;
};

// Generated text -> the answer: stop strings, then the reasoning split, then (with tools) the tool calls in
// the content. `tools`: the request's tool definitions (null: no tool parsing; kept here, a stream outlives
// its request); `forced`: the opening of a call the prompt already holds (a named tool_choice), parsed as if
// generated.
class output_text {
public:
    output_text(std::vector<std::string> stops, bool starts_in_reasoning, nlohmann::ordered_json tools = nullptr, const std::string& forced = {})
        : stops_(std::move(stops)), split_(starts_in_reasoning), tools_(std::move(tools)) {
        if (!tools_.is_null()) {
            calls_.emplace(&tools_);
            pending_ = calls_->push(forced);  // (no content: it opens a call)
        }
    }
    // The deltas a piece of text makes; stopped() once a stop string completed.
    output_delta push(const std::string& piece) { return through(stops_.push(piece), false); }
    output_delta finish() { return through(stops_.finish(), true); }
    bool stopped() const { return stopped_; }
    bool called() const { return calls_ && !calls_->calls().empty(); }
    const std::vector<q::tool_call>& calls() const { return calls_->calls(); }

private:
    output_delta through(const vl::text::stop_matcher::result& r, bool last) {
        if (r.stopped) stopped_ = true;
        q::reasoning_delta d = split_.push(r.emit);
        if (last) {
            const q::reasoning_delta tail = split_.finish();
            d.reasoning += tail.reasoning;
            d.content += tail.content;
        }
        output_delta out{std::move(d.reasoning), {}, std::move(pending_.calls)};
        pending_ = {};
        if (!calls_) {
            out.content = std::move(d.content);
            return out;
        }
        for (const q::tool_call_output& o : {calls_->push(d.content), last ? calls_->finish() : q::tool_call_output{}}) {
            out.content += o.content;
            out.calls.insert(out.calls.end(), o.calls.begin(), o.calls.end());
        }
        return out;
    }
    vl::text::stop_matcher stops_;
    q::reasoning_splitter split_;
    nlohmann::ordered_json tools_;
    std::optional<q::tool_call_parser> calls_;
    q::tool_call_output pending_;
    bool stopped_ = false;
};

// A call's id: the response's id and the call's index.
std::string call_id(const std::string& response_id, std::size_t index) { return "call_" + response_id.substr(response_id.find('-') + 1) + "_" + std::to_string(index); }

struct server_settings {
    std::string model_id;  // the checkpoint directory's name
    std::int64_t max_context = 0;
    bool vision = false;
    sv::request_limits limits;
    vl::image::decode_limits decode;
    std::int64_t default_max_tokens = 0;  // generation_config's max_new_tokens (0: up to the context)
    q::generation_config generation;
};

std::string request_id() {
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t salt = std::random_device{}();
    char buf[40];
    std::snprintf(buf, sizeof buf, "chatcmpl-%016llx%04llx", static_cast<unsigned long long>(salt), static_cast<unsigned long long>(counter++ & 0xffff));
    return buf;
}

void send_error(httplib::Response& res, const sv::api_error& e) {
    res.status = e.status;
    res.set_content(sv::error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

const char* finish_name(sv::finish_reason r) { return r == sv::finish_reason::length ? "length" : "stop"; }

// The sampling of a request: the checkpoint's generation_config, overridden by the request's fields;
// temperature 0 is greedy, as are checkpoints with do_sample false when the request names no temperature.
q::sampling_options sampling_of(const sv::chat_request& r, const q::generation_config& g) {
    q::sampling_options s = q::sampling_options::from(g, r.seed ? static_cast<std::uint64_t>(*r.seed) : std::random_device{}());
    if (r.temperature) s.temperature = *r.temperature, s.greedy = *r.temperature == 0;
    if (r.top_p) s.top_p = *r.top_p;
    if (r.top_k) s.top_k = *r.top_k;
    if (r.repetition_penalty) s.repetition_penalty = *r.repetition_penalty;
    if (s.temperature == 0) s.greedy = true;
    try {
        s.validate();
    } catch (const vl::config_error& e) {  // "sampling: temperature must be ..." names the field
        const std::string m = e.what();
        std::string param;
        for (const char* f : {"temperature", "top_k", "top_p", "repetition_penalty"})
            if (m.find(std::string(f) + " must") != std::string::npos) param = f;
        throw sv::bad_request(m, param);
    }
    return s;
}

// What a checked request becomes: the prompt and sampling for the engine, and what the response needs.
struct prepared_request {
    q::serving_request work;
    sv::chat_request api;
    bool opens_reasoning = false;
    bool tools = false;   // the model sees the tools: its tool calls are parsed
    std::string forced;   // the opening of a call the prompt ends with (tool_choice names a function)
};

prepared_request prepare(const std::string& body, const server_settings& set, const q::prompt_assets& assets) {
    prepared_request p;
    p.api = sv::parse_chat_request(body, set.limits);
    const std::vector<sv::image_source> images = sv::image_sources(p.api.messages, set.limits);
    if (!images.empty() && !set.vision)
        throw sv::bad_request("this model (" + set.model_id + ") has no vision tower: it cannot take images", images.front().param);
    std::vector<q::message> messages;
    try {
        messages = q::parse_messages(p.api.messages);
    } catch (const vl::error& e) {
        throw sv::bad_request(e.what(), "messages");
    }
    q::prompt_limits limits;
    limits.reserve = p.api.max_tokens.value_or(1);
    limits.max_context = set.max_context;
    limits.max_images = static_cast<std::size_t>(set.limits.max_images);
    limits.decode = set.decode;
    limits.files = false;
    limits.stable_prefix = true;  // where the next user turn's prompt stops sharing this one: a snapshot there
    q::chat_options options{.add_generation_prompt = true,
                            .enable_thinking = p.api.enable_thinking.value_or(true),
                            .preserve_thinking = p.api.preserve_thinking.value_or(false)};
    // The tools are shown to the model whatever tool_choice says, so that a conversation's prompts stay
    // prefixes of each other (the prefix cache); "none": its calls are not parsed (the text is content);
    // a named function: the answer begins with its call (after an empty reasoning block when the prompt
    // opened one).
    options.tools = p.api.tools;
    p.tools = !p.api.tools.is_null() && p.api.tool_choice != "none";
    std::string continuation;
    if (p.api.tool_choice == "function") {
        p.forced = "<tool_call>\n<function=" + p.api.tool_choice_function + ">\n";
        continuation = (q::prompt_opens_reasoning(assets.chat->render(messages, options)) ? "\n</think>\n\n" : "") + p.forced;
    }
    q::prepared_prompt prompt;
    try {
        prompt = q::prepare_prompt(messages, options, assets, limits, continuation);
    } catch (const vl::config_error& e) {  // the context
        throw sv::bad_request(e.what(), p.api.max_tokens ? "max_tokens" : "messages");
    } catch (const vl::error& e) {  // an image that does not decode or is over the limits, a template error
        throw sv::bad_request(e.what(), images.empty() ? "messages" : images.front().param);
    }
    const std::int64_t n = prompt.input_ids.numel();
    std::int64_t max_new = p.api.max_tokens.value_or(set.max_context - n);
    if (!p.api.max_tokens && set.default_max_tokens > 0) max_new = std::min(max_new, set.default_max_tokens);
    p.work = {prompt.input_ids, prompt.pixel_values, prompt.grids, sampling_of(p.api, set.generation), max_new, {prompt.stable_prefix}};
    p.opens_reasoning = q::prompt_opens_reasoning(prompt.rendered);
    return p;
}

}  // namespace serve_detail

inline int serve(const args& a) {
    using namespace serve_detail;
    const std::filesystem::path dir = a.required("model");
    const std::string backend = a.backend(VLGRAPH_CLI_CUDA);
    const int threads = a.threads();
    const std::string host = a.has("host") ? a.one("host") : "127.0.0.1";
    const int port = a.has("port") ? static_cast<int>(a.integer("port", 0, 65535)) : 8080;
    sv::scheduler_options sched;
    sched.max_batch = a.has("max-batch") ? static_cast<int>(a.integer("max-batch", 1, backend == "cpu" ? vl::cpu::gemm_dot_rows : 256)) : 8;
    sched.max_queue = a.has("max-queue") ? static_cast<int>(a.integer("max-queue", 0, 4096)) : 64;
    sched.prefill_chunk = a.has("prefill-chunk") ? a.integer("prefill-chunk", 1, 1 << 20) : 256;
    const std::size_t prefix_cache_bytes = static_cast<std::size_t>(a.has("prefix-cache-mb") ? a.integer("prefix-cache-mb", 0, 1 << 24) : 4096) << 20;
    server_settings set;
    set.limits.max_body_bytes = a.has("max-body-bytes") ? static_cast<std::size_t>(a.integer("max-body-bytes", 1024, 1LL << 32)) : std::size_t{32} << 20;
    set.limits.max_images = a.has("max-images") ? static_cast<int>(a.integer("max-images", 0, 1024)) : 8;
    set.decode.hf_path = a.hf_image_path();
    if (a.has("max-image-pixels")) set.decode.max_pixels = static_cast<std::uint64_t>(a.integer("max-image-pixels", 1, 1LL << 40));
    const auto grace = std::chrono::milliseconds(a.has("shutdown-grace-s") ? a.integer("shutdown-grace-s", 0, 3600) * 1000 : 10000);
    const std::string api_key = a.has("api-key") ? a.one("api-key") : "";
    const std::int64_t max_context_arg = a.has("max-context") ? a.integer("max-context", 2, 1LL << 40) : 0;
    set.model_id = std::filesystem::absolute(dir).lexically_normal().filename().string();
    if (set.model_id.empty()) set.model_id = std::filesystem::absolute(dir).lexically_normal().parent_path().filename().string();

    // SIGTERM and SIGINT are taken by sigwait below: blocked before any thread starts, so every thread inherits it.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::atomic<double> progress{0.0};
    std::atomic<bool> ready{false}, stopping{false};
    std::optional<vl::cpu::local_group> group;  // --tensor-parallel on the CPU: the ranks' communicator (outlives the engine)
    std::unique_ptr<q::serving_engine> engine;
    std::optional<q::model_config> cfg;
    std::optional<q::tokenizer> tok;
    std::optional<q::chat_template> chat;
    std::optional<q::preprocessor_config> pre;
    q::prompt_assets assets{};
    const std::int64_t started = static_cast<std::int64_t>(std::time(nullptr));

    httplib::Server http;
    const int workers = std::min(sched.max_batch + sched.max_queue + 8, 1024);
    http.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<std::size_t>(workers)); };
    http.set_payload_max_length(set.limits.max_body_bytes);
    http.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        if (!req.path.starts_with("/v1/")) return httplib::Server::HandlerResponse::Unhandled;
        if (!api_key.empty() && req.get_header_value("Authorization") != "Bearer " + api_key) {
            send_error(res, {401, "authentication_error", "a valid API key is required: Authorization: Bearer <key>", "", "invalid_api_key"});
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!ready.load()) {
            send_error(res, {503, "server_error", "the model is loading (" + std::to_string(static_cast<int>(progress.load() * 100)) + " %)"});
            return httplib::Server::HandlerResponse::Handled;
        }
        if (stopping.load()) {
            send_error(res, {503, "server_error", "the server is shutting down"});
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Statuses httplib sets itself (404, 405, 413, a malformed request line) get an OpenAI error body too.
    http.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        const int status = res.status;
        const std::string message = status == 404   ? "no such endpoint: " + req.method + " " + req.path
                                    : status == 405 ? "method " + req.method + " not allowed on " + req.path
                                    : status == 413 ? "request body over the limit of " + std::to_string(set.limits.max_body_bytes) + " bytes"
                                                    : "bad request";
        send_error(res, {status, status >= 500 ? "server_error" : "invalid_request_error", message});
        res.status = status;
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string m = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            m = e.what();
        } catch (...) {
        }
        send_error(res, sv::server_error(m));
    });

    http.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
        if (ready.load() && !stopping.load()) return res.set_content(R"({"status":"ok"})", "application/json");
        res.status = 503;
        res.set_content(nlohmann::json{{"status", stopping.load() ? "stopping" : "loading"}, {"progress", progress.load()}}.dump(), "application/json");
    });
    http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(sv::models_response(set.model_id, started, set.max_context, set.vision).dump(), "application/json");
    });
    // Requests whose response is still being written (a stream's provider holds a share): shutdown waits for them.
    std::atomic<int> writing{0};
    http.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
        ++writing;
        const std::shared_ptr<void> written(nullptr, [&writing](void*) { --writing; });
        prepared_request p;
        std::shared_ptr<sv::token_stream> out;
        try {
            p = prepare(req.body, set, assets);
            out = engine->submit(std::move(p.work));
        } catch (const sv::api_error& e) {
            return send_error(res, e);
        } catch (const sv::queue_full& e) {
            return send_error(res, {429, "rate_limit_exceeded", e.what(), "", "queue_full"});
        } catch (const sv::not_accepting& e) {
            return send_error(res, {503, "server_error", e.what()});
        } catch (const vl::error& e) {
            return send_error(res, sv::bad_request(e.what()));
        }
        const std::string id = request_id();
        const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
        auto text = std::make_shared<output_text>(p.api.stop, p.opens_reasoning, p.tools ? p.api.tools : nlohmann::ordered_json(), p.forced);
        auto peer = std::make_shared<peer_watch>(req);

        if (!p.api.stream) {  // the whole answer at once; the request ends if the client leaves meanwhile
            std::string content, reasoning;
            const auto add = [&](const output_delta& d) { content += d.content, reasoning += d.reasoning; };
            for (;;) {
                const std::optional<sv::stream_event> e = out->next(250ms);
                if (!e) {
                    if (peer->gone()) out->cancel();
                    continue;
                }
                if (!e->done) {
                    if (!text->stopped()) add(text->push(e->text));
                    if (text->stopped()) out->cancel();  // the stop string ends it: the next event is the last
                    continue;
                }
                if (e->reason == sv::finish_reason::error) return send_error(res, sv::server_error("generation failed: " + e->error));
                if (e->reason == sv::finish_reason::cancelled && !text->stopped())
                    return send_error(res, {503, "server_error", "the request was ended before it finished (the client left or the server is stopping)"});
                add(text->finish());
                const sv::token_usage u{e->usage.prompt_tokens, e->usage.completion_tokens, e->usage.cached_tokens};
                nlohmann::json calls = nlohmann::json::array();
                if (text->called())
                    for (std::size_t k = 0; k < text->calls().size(); ++k)
                        calls.push_back({{"id", call_id(id, k)}, {"type", "function"}, {"function", {{"name", text->calls()[k].name}, {"arguments", text->calls()[k].arguments}}}});
                const std::string finish = text->stopped() ? "stop" : text->called() && e->reason == sv::finish_reason::stop ? "tool_calls" : finish_name(e->reason);
                res.set_content(sv::completion_response(id, created, set.model_id, content, reasoning, finish, u, calls)
                                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                "application/json");
                return;
            }
        }

        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no");
        const bool include_usage = p.api.include_usage;
        res.set_chunked_content_provider("text/event-stream", [out, text, peer, id, created, include_usage, written, &set](std::size_t, httplib::DataSink& sink) {
            const auto send = [&](const nlohmann::json& j) {
                const std::string event = sv::sse_event(j);
                return sink.write(event.data(), event.size());
            };
            const auto send_delta = [&](const output_delta& d) {
                if (d.content.empty() && d.reasoning.empty() && d.calls.empty()) return true;
                nlohmann::json calls = nlohmann::json::array();
                for (const q::tool_call_delta& c : d.calls) {
                    nlohmann::json f{{"arguments", c.arguments}};
                    if (!c.name.empty()) f["name"] = c.name;
                    nlohmann::json call{{"index", c.index}, {"function", std::move(f)}};
                    if (!c.name.empty()) call["id"] = call_id(id, c.index), call["type"] = "function";
                    calls.push_back(std::move(call));
                }
                return send(sv::chunk(id, created, set.model_id, {false, d.content, d.reasoning, std::move(calls)}));
            };
            if (!send(sv::chunk(id, created, set.model_id, {true, "", ""}))) {
                out->cancel();
                return false;
            }
            for (;;) {
                const std::optional<sv::stream_event> e = out->next(250ms);
                if (!e) {
                    if (peer->gone()) out->cancel();
                    continue;
                }
                if (!e->done) {
                    if (text->stopped()) continue;
                    const bool sent = send_delta(text->push(e->text));
                    if (!sent) out->cancel();  // the client is gone
                    else if (text->stopped()) out->cancel();
                    continue;
                }
                if (e->reason == sv::finish_reason::error || (e->reason == sv::finish_reason::cancelled && !text->stopped())) {
                    const std::string why = e->reason == sv::finish_reason::error ? "generation failed: " + e->error : "the request was ended before it finished";
                    send(sv::error_body(sv::server_error(why)));
                } else {
                    send_delta(text->finish());
                    send(sv::chunk(id, created, set.model_id, {}, text->stopped() ? "stop" : text->called() && e->reason == sv::finish_reason::stop ? "tool_calls" : finish_name(e->reason)));
                    if (include_usage)
                        send(sv::usage_chunk(id, created, set.model_id, {e->usage.prompt_tokens, e->usage.completion_tokens, e->usage.cached_tokens}));
                }
                const std::string done = sv::sse_done();
                sink.write(done.data(), done.size());
                sink.done();
                return true;
            }
        });
    });

    const int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (bound < 0) throw vl::io_error("serve: cannot listen on " + host + ":" + std::to_string(port));
    std::fprintf(stderr, "vlgraph serve: listening on http://%s:%d\n", host.c_str(), bound);
    std::thread listener([&] { http.listen_after_bind(); });

    int status = 0;
    try {
        cfg = q::load_config(dir);
        const q::generation_config gen = q::load_generation_config(dir, *cfg);
        tok = q::load_tokenizer(dir);
        chat = q::chat_template::load(dir);
        const vl::checkpoint ck = vl::checkpoint::open(dir);
        // A vision tower: its weights in the checkpoint and a preprocessor config (a text-only conversion has neither).
        const std::vector<q::expected_tensor> visual = q::expected_tensors(*cfg, q::part::vision);
        set.vision = !visual.empty() && ck.contains(visual.front().name) && std::filesystem::exists(dir / "preprocessor_config.json");
        if (set.vision) pre = q::load_preprocessor_config(dir, cfg->vision);
        set.generation = gen;
        set.default_max_tokens = gen.max_new_tokens.value_or(0);
        set.max_context = max_context_arg > 0 ? std::min(max_context_arg, cfg->text.max_position_embeddings) : cfg->text.max_position_embeddings;
        assets = {&*cfg, &*chat, &*tok, pre ? &*pre : nullptr};
        const int ranks = tensor_parallel_size(a, backend, *cfg);
        if (ranks > 1 && backend != "cpu")
            throw vl::config_error("serve: --tensor-parallel runs on the CPU backend (on CUDA, serving uses one GPU; generate and logits split over several)");
        progress = 0.1;
        const auto t0 = std::chrono::steady_clock::now();
        if (backend == "cpu" && ranks > 1) {
            group.emplace(ranks);
            const int per_rank = std::max(1, (threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency())) / ranks);
            std::vector<q::language_weights> shards;
            std::vector<std::unique_ptr<vl::cpu::executor>> executors;
            for (int r = 0; r < ranks; ++r) {
                shards.push_back(q::language_weights::load_shard(ck, *cfg, vl::dtype::f32, q::matrix_storage::as_stored, q::plan_shards(*cfg, r, ranks), group->rank(r)));
                executors.push_back(std::make_unique<vl::cpu::executor>(per_rank));
                std::fprintf(stderr, "vlgraph serve: tensor parallel rank %d of %d: a shard of %.1f MiB, %.1f MiB of it in its own memory, %d thread(s)\n", r,
                             ranks, static_cast<double>(shard_bytes(shards.back())) / (1 << 20),
                             static_cast<double>(owned_weight_bytes(shards.back())) / (1 << 20), per_rank);
                progress = 0.1 + 0.7 * (r + 1) / ranks;
            }
            std::optional<q::vision_weights> vw;
            if (set.vision) vw = q::vision_weights::load(ck, cfg->vision, vl::dtype::f32, q::matrix_storage::as_stored);
            engine = std::make_unique<q::tensor_parallel_serving_engine<vl::cpu::executor>>(std::move(shards), std::move(vw), *tok, gen.eos_token_ids, sched,
                                                                                            std::move(executors), std::make_unique<vl::lockstep>(ranks));
        } else if (backend == "cpu") {
            q::language_weights w = q::language_weights::load(ck, *cfg, vl::dtype::f32, q::matrix_storage::as_stored);
            progress = 0.8;
            std::optional<q::vision_weights> vw;
            if (set.vision) vw = q::vision_weights::load(ck, cfg->vision, vl::dtype::f32, q::matrix_storage::as_stored);
            engine = std::make_unique<q::serving_engine_on<vl::cpu::executor>>(std::move(w), std::move(vw), *tok, gen.eos_token_ids, sched, prefix_cache_bytes, threads);
        }
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") engine = serving_engine_on_cuda(ck, *cfg, set.vision, *tok, gen.eos_token_ids, sched, prefix_cache_bytes);
#endif
        progress = 1.0;
        std::fprintf(stderr, "vlgraph serve: %s ready in %.1f s (%s, vision %s, context %lld, max batch %d)\n", set.model_id.c_str(), seconds_since(t0),
                     backend.c_str(), set.vision ? "yes" : "no", static_cast<long long>(set.max_context), sched.max_batch);
        ready = true;
        int sig = 0;
        sigwait(&stop_signals, &sig);
        std::fprintf(stderr, "vlgraph serve: %s: finishing running requests (at most %lld s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                     static_cast<long long>(grace.count() / 1000));
        stopping = true;
        engine->stop(grace);  // every stream has its last event now
        const auto flushed = std::chrono::steady_clock::now() + 5s;
        while (writing.load() > 0 && std::chrono::steady_clock::now() < flushed) std::this_thread::sleep_for(10ms);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vlgraph serve: error: %s\n", e.what());
        status = 1;
    }
    http.stop();
    listener.join();
    engine.reset();
    return status;
}

}  // namespace vlcli
