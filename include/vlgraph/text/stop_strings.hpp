// vlgraph/text/stop_strings.hpp — stop strings over streamed text (OpenAI `stop`).
//
//   vl::text::stop_matcher m({"\n\nUser:", "###"});
//   for (each decoded piece) { auto r = m.push(piece); send(r.emit); if (r.stopped) break; }
//   send(m.finish().emit);
//
// The text released is the generated text cut before the stop string that completes first (the stop
// string itself is not released, as OpenAI does); when two complete at the same character, the longer
// one (which starts earlier) wins. That is what a character-by-character check sees, so the result does
// not depend on how the text was split into pieces.
//
// Each stop string runs a Knuth–Morris–Pratt automaton over the text, so every byte is looked at once
// per stop string whatever the output's length: the state of each automaton is the longest prefix of its
// stop string that ends the text so far, and exactly the longest such state's bytes are held back.
//
// Released text is always well-formed UTF-8: bytes are decoded as the streaming detokenizer does
// (text/utf8.hpp: an unfinished trailing sequence waits for the next piece, ill-formed bytes become
// U+FFFD), and a held-back prefix of a (well-formed) stop string starts at a character boundary.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/text/utf8.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl::text {

class stop_matcher {
public:
    struct result {
        std::string emit;      // text that can be released now
        bool stopped = false;  // a stop string completed: nothing follows `emit`
    };

    // Each stop string must be non-empty, well-formed UTF-8. No stop strings: everything is released
    // (still as whole UTF-8 characters).
    explicit stop_matcher(std::vector<std::string> stops) {
        for (std::size_t i = 0; i < stops.size(); ++i) {
            if (stops[i].empty()) throw error("stop string " + std::to_string(i) + " is empty");
            utf8::require_valid(stops[i], "stop string " + std::to_string(i));
            automata_.push_back(automaton::of(std::move(stops[i])));
        }
    }

    result push(std::string_view piece) {
        if (stopped_) return {{}, true};
        pending_.append(piece);
        std::string text;
        pending_.erase(0, utf8::append_lossy(text, pending_, false));
        return advance(text);
    }

    // The end of the output: an unfinished UTF-8 sequence becomes U+FFFD (which may still complete a stop
    // string), then whatever was held back is released.
    result finish() {
        if (stopped_) return {{}, true};
        std::string text;
        utf8::append_lossy(text, pending_, true);
        pending_.clear();
        result r = advance(text);
        if (!r.stopped) {
            r.emit += held_;
            held_.clear();
            for (automaton& a : automata_) a.state = 0;
        }
        return r;
    }

    bool stopped() const { return stopped_; }

private:
    struct automaton {
        std::string stop;
        std::vector<std::size_t> fail;  // fail[i]: the longest proper prefix of stop[0..i] that is also its suffix
        std::size_t state = 0;          // how many bytes of `stop` the text so far ends with

        static automaton of(std::string s) {
            automaton a;
            a.fail.assign(s.size(), 0);
            for (std::size_t i = 1, k = 0; i < s.size(); ++i) {
                while (k > 0 && s[i] != s[k]) k = a.fail[k - 1];
                if (s[i] == s[k]) ++k;
                a.fail[i] = k;
            }
            a.stop = std::move(s);
            return a;
        }

        // Feeds one byte; true when the stop string is complete.
        bool step(char c) {
            while (state > 0 && stop[state] != c) state = fail[state - 1];
            if (stop[state] == c) ++state;
            return state == stop.size();
        }
    };

    std::vector<automaton> automata_;
    std::string pending_;  // undecoded bytes: an unfinished UTF-8 sequence
    std::string held_;     // decoded text that may be the start of a stop string
    bool stopped_ = false;

    result advance(std::string_view text) {
        for (std::size_t i = 0; i < text.size(); ++i) {
            std::size_t matched = 0;  // the longest stop string completed by this byte
            for (automaton& a : automata_)
                if (a.step(text[i])) matched = std::max(matched, a.stop.size());
            if (matched > 0) {
                stopped_ = true;
                std::string all = std::move(held_);
                all.append(text.substr(0, i + 1));
                all.resize(all.size() - matched);
                held_.clear();
                return {std::move(all), true};
            }
        }
        std::size_t hold = 0;
        for (const automaton& a : automata_) hold = std::max(hold, a.state);
        std::string all = std::move(held_);
        all.append(text);
        held_.assign(all, all.size() - hold, hold);
        all.resize(all.size() - hold);
        return {std::move(all), false};
    }
};

}  // namespace vl::text
