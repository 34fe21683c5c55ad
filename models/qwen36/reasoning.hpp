// vlgraph/models/qwen36/reasoning.hpp — Qwen3 output text -> (reasoning, content), as the OpenAI-style
// servers' Qwen3 reasoning parsers split it (`reasoning_content` and `content`), streamed or whole.
//
//   vl::qwen36::reasoning_splitter s(vl::qwen36::prompt_opens_reasoning(prompt));
//   for (each decoded piece) { auto d = s.push(piece); send(d.reasoning, d.content); }
//   auto last = s.finish();
//
// The rules (split_reasoning is their definition; the streaming splitter gives the same text however the
// output is cut into pieces):
//   - `</think>` ends reasoning: what follows is content; `<think>` starts reasoning (also inside content).
//     The tags themselves appear in neither; a `</think>` in content or a `<think>` in reasoning is dropped
//     (it still ends the block before it, below).
//   - Newlines are normalised as the chat template does when it re-reads an assistant turn
//     (`content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')` and
//     `content.split('</think>')[-1].lstrip('\n')`): each reasoning block is strip('\n')'d, and content
//     that follows a tag is lstrip('\n')'d. Content before any tag is left as it is, so output without tags
//     from a prompt that did not open reasoning is all content, unchanged.
//   - Streaming holds back what it cannot decide yet: a suffix that may be the start of a tag, newlines at
//     the end of reasoning (dropped if `</think>` follows), an unfinished UTF-8 sequence. Deltas are
//     therefore always well-formed UTF-8 (ill-formed bytes become U+FFFD, as in the streaming detokenizer).
#pragma once

#include <vlgraph/text/utf8.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace vl::qwen36 {

inline constexpr std::string_view think_open = "<think>";
inline constexpr std::string_view think_close = "</think>";

// Whether generation continues inside an open `<think>` block: the rendered prompt's last turn is the
// assistant's and has a `<think>` not closed after it. The Qwen3.5/3.6 template's generation prompt ends
// with "<|im_start|>assistant\n<think>\n" when thinking is enabled and with "<think>\n\n</think>\n\n" when
// it is not. Looking only at the last turn keeps a "<think>" typed in an earlier user message from counting.
inline bool prompt_opens_reasoning(std::string_view rendered_prompt) {
    constexpr std::string_view assistant_turn = "<|im_start|>assistant\n";
    const std::size_t turn = rendered_prompt.rfind("<|im_start|>");
    if (turn == std::string_view::npos || !rendered_prompt.substr(turn).starts_with(assistant_turn)) return false;
    const std::string_view last = rendered_prompt.substr(turn);
    const std::size_t open = last.rfind(think_open);
    return open != std::string_view::npos && last.find(think_close, open) == std::string_view::npos;
}

struct reasoning_delta {
    std::string reasoning;
    std::string content;
};

namespace detail {
inline std::string_view strip_leading_newlines(std::string_view s) {
    const std::size_t n = s.find_first_not_of('\n');
    return n == std::string_view::npos ? std::string_view{} : s.substr(n);
}
inline std::string_view strip_newlines(std::string_view s) {
    s = strip_leading_newlines(s);
    return s.substr(0, s.find_last_not_of('\n') + 1);  // npos + 1 == 0 when s is empty
}
}  // namespace detail

// The whole output at once; `starts_in_reasoning` as given to reasoning_splitter.
inline reasoning_delta split_reasoning(std::string_view full_text, bool starts_in_reasoning) {
    std::string text;
    text::utf8::append_lossy(text, full_text, true);
    reasoning_delta out;
    bool in_reasoning = starts_in_reasoning;
    bool after_tag = starts_in_reasoning;  // the prompt's own <think> counts as the tag before the output
    std::size_t pos = 0;
    const std::string_view all = text;
    while (true) {
        const std::size_t open = all.find(think_open, pos), close = all.find(think_close, pos);
        const std::size_t tag = std::min(open, close);
        const std::string_view segment = all.substr(pos, tag == std::string_view::npos ? std::string_view::npos : tag - pos);
        if (in_reasoning) out.reasoning += detail::strip_newlines(segment);
        else out.content += after_tag ? detail::strip_leading_newlines(segment) : segment;
        if (tag == std::string_view::npos) break;
        in_reasoning = tag == open;
        after_tag = true;
        pos = tag + (in_reasoning ? think_open : think_close).size();
    }
    return out;
}

class reasoning_splitter {
public:
    explicit reasoning_splitter(bool starts_in_reasoning) : in_reasoning_(starts_in_reasoning), block_start_(starts_in_reasoning) {}

    reasoning_delta push(std::string_view piece) {
        pending_.append(piece);
        std::string text = std::move(tag_prefix_);
        tag_prefix_.clear();
        pending_.erase(0, text::utf8::append_lossy(text, pending_, false));
        reasoning_delta out;
        const std::string_view t = text;
        for (std::size_t i = 0; i < t.size();) {
            if (t[i] == '<') {
                const std::string_view rest = t.substr(i);
                if (rest.starts_with(think_open) || rest.starts_with(think_close)) {
                    const bool open = rest.starts_with(think_open);
                    start_block(open);
                    i += (open ? think_open : think_close).size();
                    continue;
                }
                if (think_open.starts_with(rest) || think_close.starts_with(rest)) {  // may become a tag
                    tag_prefix_ = rest;
                    break;
                }
            }
            take(t[i], out);
            ++i;
        }
        return out;
    }

    // The end of the output: an unfinished UTF-8 sequence becomes U+FFFD, a held tag prefix is text after
    // all, and newlines ending unterminated reasoning are dropped (the block is strip('\n')'d).
    reasoning_delta finish() {
        std::string text = std::move(tag_prefix_);
        tag_prefix_.clear();
        text::utf8::append_lossy(text, pending_, true);
        pending_.clear();
        reasoning_delta out;
        for (const char c : text) take(c, out);
        held_newlines_ = 0;
        return out;
    }

private:
    std::string pending_;             // undecoded bytes: an unfinished UTF-8 sequence
    std::string tag_prefix_;          // decoded text that may be the start of a tag
    bool in_reasoning_;
    bool block_start_;                // no character kept since the last tag: leading newlines are dropped
    std::size_t held_newlines_ = 0;   // newlines in reasoning not yet known to be inside the block

    void start_block(bool reasoning) {
        held_newlines_ = 0;  // they ended the block before the tag
        in_reasoning_ = reasoning;
        block_start_ = true;
    }

    void take(char c, reasoning_delta& out) {
        if (c == '\n' && block_start_) return;
        if (!in_reasoning_) {
            out.content += c;
            block_start_ = false;
            return;
        }
        if (c == '\n') {
            ++held_newlines_;
            return;
        }
        out.reasoning.append(held_newlines_, '\n');
        held_newlines_ = 0;
        out.reasoning += c;
        block_start_ = false;
    }
};

}  // namespace vl::qwen36
