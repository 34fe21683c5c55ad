// vlgraph/serve/prefix_cache.hpp — a store of model states keyed by the token prefix they follow, for
// requests that repeat an earlier prompt's beginning (multi-turn chats, agents). General machinery: what a
// snapshot holds is the Model's (vl::qwen36::serving_model: the GDN layers' states and the attention rows).
//
//     vl::serve::prefix_cache<snapshot> cache({.max_bytes = 1 << 30, .block = 256});
//     if (auto hit = cache.find(content, max_length)) resume(hit->snapshot), skip(hit->length());
//     cache.insert(std::vector(content.begin(), content.begin() + p), take_snapshot(), bytes);
//
// Keys are a sequence's content: one 64-bit value per position (a token id, or for an image's positions a
// hash of its pixels, so two images never share a key). Entries end on a multiple of `block` positions and
// are indexed by a hash chain over their blocks (h_b = mix(h_{b-1}, hash(block b))); a lookup walks the
// query's chain from its longest block prefix down and compares the stored content of any entry the hash
// names, so a hash collision is a miss, never a wrong state. Memory is bounded by max_bytes: the least
// recently used entries go first, and an entry someone holds (a handle from find, still restoring) is never
// evicted. Memory shared between entries (a Model's blocks of rows common to a conversation's turns) is
// charged once through a byte_ledger: a ticket charges its bytes while it lives.
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vl::serve {

// Bytes charged by live tickets (memory several entries share, counted once).
class byte_ledger {
public:
    class ticket {
    public:
        ticket() = default;
        ticket(std::shared_ptr<std::size_t> total, std::size_t bytes) : total_(std::move(total)), bytes_(bytes) { *total_ += bytes_; }
        ticket(ticket&& o) noexcept : total_(std::move(o.total_)), bytes_(std::exchange(o.bytes_, 0)) {}
        ticket& operator=(ticket&& o) noexcept {
            release();
            total_ = std::move(o.total_), bytes_ = std::exchange(o.bytes_, 0);
            return *this;
        }
        ~ticket() { release(); }

    private:
        void release() {
            if (total_) *total_ -= bytes_;
            total_.reset(), bytes_ = 0;
        }
        std::shared_ptr<std::size_t> total_;
        std::size_t bytes_ = 0;
    };
    ticket charge(std::size_t bytes) { return ticket(total_, bytes); }
    std::size_t bytes() const { return *total_; }

private:
    std::shared_ptr<std::size_t> total_ = std::make_shared<std::size_t>(0);
};

struct prefix_cache_options {
    std::size_t max_bytes = std::size_t{1} << 30;
    index_t block = 256;  // entries end on multiples of this many positions
};

struct prefix_cache_stats {
    std::uint64_t lookups = 0, hits = 0, inserts = 0, evictions = 0;
    std::uint64_t positions_looked_up = 0, positions_reused = 0;  // over all lookups: asked for, found
    std::size_t entries = 0, bytes = 0;
};

template <class Snapshot>
class prefix_cache {
public:
    struct entry {
        std::vector<std::uint64_t> content;  // the positions it follows
        Snapshot snapshot;
        std::size_t own_bytes;  // the snapshot's memory not charged to the ledger
        index_t length() const { return static_cast<index_t>(content.size()); }
    };
    using handle = std::shared_ptr<const entry>;

    explicit prefix_cache(prefix_cache_options o) : options_(o) {
        if (o.block < 1) throw config_error("prefix_cache: block must be >= 1, got " + std::to_string(o.block));
    }

    const prefix_cache_options& options() const { return options_; }
    byte_ledger& ledger() { return ledger_; }

    // The longest entry whose content is a prefix of `content` and no longer than max_length; null if none.
    // A hit counts as used now (least recently used goes first).
    handle find(std::span<const std::uint64_t> content, index_t max_length) {
        ++stats_.lookups;
        stats_.positions_looked_up += static_cast<std::uint64_t>(std::max<index_t>(max_length, 0));
        handle h = longest(content, max_length);
        if (h) {
            ++stats_.hits;
            stats_.positions_reused += static_cast<std::uint64_t>(h->length());
            slots_.at(chain_of(h->content)).last_used = ++clock_;
        }
        return h;
    }
    // The same without counting a lookup (a Model looking for memory to share with a new entry).
    handle peek(std::span<const std::uint64_t> content, index_t max_length) const { return longest(content, max_length); }

    // Stores a snapshot of the state after `content` (a whole number of blocks, at least one), replacing one
    // stored for the same content; then evicts down to max_bytes. An entry bigger than max_bytes is not kept.
    void insert(std::vector<std::uint64_t> content, Snapshot snapshot, std::size_t own_bytes) {
        const auto n = static_cast<index_t>(content.size());
        if (n < options_.block || n % options_.block != 0)
            throw config_error("prefix_cache: an entry must cover whole blocks of " + std::to_string(options_.block) + " positions, got " + std::to_string(n));
        const std::uint64_t key = chain_of(content);
        if (auto it = slots_.find(key); it != slots_.end()) {
            if (it->second.e.use_count() > 1) return;  // in use: keep the one being read
            own_bytes_ -= it->second.e->own_bytes;
            slots_.erase(it);
        }
        own_bytes_ += own_bytes;
        slots_.emplace(key, slot{std::make_shared<const entry>(entry{std::move(content), std::move(snapshot), own_bytes}), ++clock_});
        ++stats_.inserts;
        evict();
    }

    std::size_t bytes() const { return own_bytes_ + ledger_.bytes(); }
    prefix_cache_stats stats() const {
        prefix_cache_stats s = stats_;
        s.entries = slots_.size(), s.bytes = bytes();
        return s;
    }

private:
    struct slot {
        handle e;
        std::uint64_t last_used;
    };

    static std::uint64_t mix(std::uint64_t h, std::uint64_t v) {  // splitmix64 finaliser over h ⊕ v
        std::uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Chain hashes of the first b blocks of content, b = 1 .. blocks.
    std::vector<std::uint64_t> chain(std::span<const std::uint64_t> content, index_t blocks) const {
        std::vector<std::uint64_t> out;
        std::uint64_t h = 0;
        for (index_t b = 0; b < blocks; ++b) {
            std::uint64_t hb = 0x243F6A8885A308D3ull;
            for (index_t i = 0; i < options_.block; ++i) hb = mix(hb, content[static_cast<std::size_t>(b * options_.block + i)]);
            h = mix(h, hb);
            out.push_back(h);
        }
        return out;
    }
    std::uint64_t chain_of(std::span<const std::uint64_t> content) const {
        return chain(content, static_cast<index_t>(content.size()) / options_.block).back();
    }
    handle longest(std::span<const std::uint64_t> content, index_t max_length) const {
        const index_t blocks = std::min<index_t>(max_length, static_cast<index_t>(content.size())) / options_.block;
        if (blocks < 1 || slots_.empty()) return nullptr;
        const std::vector<std::uint64_t> hashes = chain(content, blocks);
        for (index_t b = blocks; b >= 1; --b) {
            const auto it = slots_.find(hashes[static_cast<std::size_t>(b - 1)]);
            if (it == slots_.end()) continue;
            const std::vector<std::uint64_t>& stored = it->second.e->content;
            if (static_cast<index_t>(stored.size()) == b * options_.block && std::equal(stored.begin(), stored.end(), content.begin())) return it->second.e;
        }
        return nullptr;
    }
    void evict() {
        while (bytes() > options_.max_bytes) {
            auto victim = slots_.end();
            for (auto it = slots_.begin(); it != slots_.end(); ++it)
                if (it->second.e.use_count() == 1 && (victim == slots_.end() || it->second.last_used < victim->second.last_used)) victim = it;
            if (victim == slots_.end()) return;  // everything left is in use
            own_bytes_ -= victim->second.e->own_bytes;
            slots_.erase(victim);  // its shared memory is released with the last entry holding it
            ++stats_.evictions;
        }
    }

    prefix_cache_options options_;
    byte_ledger ledger_;
    std::unordered_map<std::uint64_t, slot> slots_;  // by the chain hash of the entry's content
    std::size_t own_bytes_ = 0;
    std::uint64_t clock_ = 0;
    prefix_cache_stats stats_;
};

}  // namespace vl::serve
