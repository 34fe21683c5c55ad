// libFuzzer target: what `vlgraph serve` reads from a client and the text it streams back
// (vlgraph/serve/openai.hpp, text/stop_strings.hpp, models/qwen36/reasoning.hpp, tool_calls.hpp). Input byte 0 picks the mode:
//   'S' — stop strings: byte 1 = number of stop strings (mod 5), then per stop string a length byte (mod 16)
//         and its bytes (made well-formed, empty ones skipped), then a byte seeding how the rest, the
//         generated text, is cut into pieces. Streamed must equal one push and the whole-text definition
//         (cut before the stop string that ends first, the longest of those), every release well-formed UTF-8;
//   'R' — reasoning split: byte 1 = starts_in_reasoning (bit 0) and the seed of the cuts, the rest the text.
//         The streamed deltas must concatenate to split_reasoning's, every delta well-formed UTF-8;
//   'T' — tool calls: byte 1 seeds the cuts, the rest is the content text (tools with typed parameters).
//         Streamed (cut pieces) must give the content and calls of one push, each call's deltas must put
//         together its arguments, and every call's arguments must be a JSON object;
//   else — the rest is a chat-completions request body: parse_chat_request, then (when it parses) the
//         image sources and qwen36::parse_messages on its messages. A refusal's error body must be
//         well-formed UTF-8 (dump() throws otherwise) and bounded; an accepted request must hold the
//         ranges its fields promise, and its images must all be data: URLs.
// Anything else that escapes (a nlohmann exception, a crash, a leak, UB) is a finding; so is a violated
// property (__builtin_trap). Build and run: scripts/fuzz.sh request SECONDS (seeds: corpus/request/).
#include <vlgraph/image/data_url.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/reasoning.hpp>
#include <vlgraph/models/qwen36/tool_calls.hpp>
#include <vlgraph/serve/openai.hpp>
#include <vlgraph/text/stop_strings.hpp>
#include <vlgraph/text/utf8.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap();
}

bool well_formed(std::string_view s) { return vl::text::utf8::find_invalid(s) == std::string_view::npos; }

std::vector<std::string_view> cut(std::string_view text, std::uint8_t seed) {
    std::minstd_rand rng(seed + 1u);
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = std::min<std::size_t>(text.size() - at, rng() % 9);
        pieces.push_back(text.substr(at, n));
        at += n;
    }
    return pieces;
}

void stop_strings(std::string_view in) {
    if (in.size() < 2) return;
    std::vector<std::string> stops;
    std::size_t at = 1;
    for (int k = static_cast<std::uint8_t>(in[0]) % 5; k > 0 && at < in.size(); --k) {
        const std::size_t wanted = static_cast<std::uint8_t>(in[at++]) % 16;
        const std::size_t len = std::min(wanted, in.size() - at);
        std::string s;
        vl::text::utf8::append_lossy(s, in.substr(at, len), true);
        at += len;
        if (!s.empty()) stops.push_back(std::move(s));
    }
    if (at >= in.size()) return;
    const std::uint8_t seed = static_cast<std::uint8_t>(in[at++]);
    const std::string_view text = in.substr(at);

    auto run = [&](const std::vector<std::string_view>& pieces) {
        vl::text::stop_matcher m(stops);
        std::string out;
        bool stopped = false;
        for (std::string_view p : pieces) {
            const auto r = m.push(p);
            require(well_formed(r.emit));
            out += r.emit;
            if ((stopped = r.stopped)) break;
        }
        if (!stopped) {
            const auto r = m.finish();
            require(well_formed(r.emit));
            out += r.emit;
            stopped = r.stopped;
        }
        return std::make_pair(out, stopped);
    };
    const auto streamed = run(cut(text, seed));
    require(streamed == run({text}));

    std::string decoded;
    vl::text::utf8::append_lossy(decoded, text, true);
    std::size_t best_end = std::string::npos, best_len = 0;
    for (const std::string& s : stops) {
        const std::size_t p = decoded.find(s);
        if (p == std::string::npos) continue;
        if (p + s.size() < best_end || (p + s.size() == best_end && s.size() > best_len)) best_end = p + s.size(), best_len = s.size();
    }
    if (best_end == std::string::npos) require(!streamed.second && streamed.first == decoded);
    else require(streamed.second && streamed.first == decoded.substr(0, best_end - best_len));
}

void reasoning(std::string_view in) {
    if (in.empty()) return;
    const bool starts = (in[0] & 1) != 0;
    const std::string_view text = in.substr(1);
    vl::qwen36::reasoning_splitter splitter(starts);
    vl::qwen36::reasoning_delta all;
    auto take = [&](const vl::qwen36::reasoning_delta& d) {
        require(well_formed(d.reasoning) && well_formed(d.content));
        all.reasoning += d.reasoning;
        all.content += d.content;
    };
    for (std::string_view p : cut(text, static_cast<std::uint8_t>(in[0]))) take(splitter.push(p));
    take(splitter.finish());
    const vl::qwen36::reasoning_delta whole = vl::qwen36::split_reasoning(text, starts);
    require(all.reasoning == whole.reasoning && all.content == whole.content);
}

void tool_calls(std::string_view in) {
    if (in.empty()) return;
    static const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "f", "parameters":
        {"type": "object", "properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
         "o": {"type": "object"}, "a": {"type": ["array", "null"]}}}}}])");
    const std::string_view text = in.substr(1);
    struct result {
        std::string content;
        std::vector<std::pair<std::string, std::string>> calls;  // as the deltas put them together
        std::vector<vl::qwen36::tool_call> whole;
    };
    const auto run = [&](const std::vector<std::string_view>& pieces) {
        vl::qwen36::tool_call_parser p(&tools);
        result r;
        const auto take = [&](const vl::qwen36::tool_call_output& o) {
            r.content += o.content;
            for (const vl::qwen36::tool_call_delta& d : o.calls) {
                if (d.index == r.calls.size()) r.calls.emplace_back(d.name, "");
                require(d.index < r.calls.size());
                r.calls[d.index].second += d.arguments;
            }
        };
        for (std::string_view piece : pieces) take(p.push(piece));
        take(p.finish());
        r.whole = p.calls();
        return r;
    };
    const result streamed = run(cut(text, static_cast<std::uint8_t>(in[0]))), once = run({text});
    require(streamed.content == once.content && streamed.calls == once.calls && streamed.whole.size() == once.whole.size());
    for (std::size_t k = 0; k < once.whole.size(); ++k) {
        require(once.calls[k].first == once.whole[k].name && once.calls[k].second == once.whole[k].arguments);
        require(nlohmann::json::parse(once.whole[k].arguments, nullptr, false).is_object());
    }
}

void request(std::string_view body) {
    vl::serve::request_limits limits;
    limits.max_body_bytes = 1 << 20;
    limits.max_images = 4;
    try {
        const vl::serve::chat_request r = vl::serve::parse_chat_request(body, limits);
        require(r.messages.is_array() && !r.messages.empty());
        require(static_cast<std::int64_t>(r.stop.size()) <= limits.max_stop_strings);
        for (const std::string& s : r.stop) require(!s.empty() && s.size() <= limits.max_stop_bytes && well_formed(s));
        require(!r.max_tokens || *r.max_tokens >= 1);
        require(!r.top_k || *r.top_k >= 0);
        require(!r.top_p || (*r.top_p > 0 && *r.top_p <= 1));
        require(!r.temperature || *r.temperature >= 0);
        require(!r.include_usage || r.stream);
        require(r.tools.is_null() || (r.tools.is_array() && !r.tools.empty()));
        require(r.tool_choice == "auto" || r.tool_choice == "none" || (r.tool_choice == "function" && !r.tool_choice_function.empty()));
        const auto images = vl::serve::image_sources(r.messages, limits);
        require(static_cast<int>(images.size()) <= limits.max_images);
        for (const auto& im : images) require(vl::image::url_scheme(im.url) == "data" && !im.param.empty());
        (void)vl::qwen36::parse_messages(r.messages);
    } catch (const vl::serve::api_error& e) {
        require(e.status == 400 || e.status == 413);
        const std::string text = vl::serve::error_body(e).dump();  // throws on ill-formed UTF-8
        require(text.size() < 4096);
    } catch (const vl::error&) {  // the message parser's refusals
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] == 'S') stop_strings(rest);
    else if (data[0] == 'R') reasoning(rest);
    else if (data[0] == 'T') tool_calls(rest);
    else request(rest);
    return 0;
}
