// Tensor-parallel sharding plans (models/qwen36/sharding.hpp), a pure function of (config, rank, size):
//   - every rank's shards of every tensor reassemble exactly into the full tensor (each row of a split
//     tensor held by exactly one rank; replicated tensors whole on every rank), for the bundled checkpoint
//     at TP 1 and 2 and for an in-memory config at TP 4 whose 2 KV heads are replicated;
//   - in_proj_qkv and conv1d are split by their q, k and v sections (a contiguous split scrambles them);
//   - per-rank shapes at the Qwen3.6-27B widths for TP 2;
//   - every refused size names the dimension and the sizes that work.
#define BOOST_TEST_MODULE sharding
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"
#include "tp_configs.hpp"

#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

namespace q = vl::qwen36;
using vl::index_t;

const std::string tiny = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36";

// A full tensor of `shape` whose every element is distinct (its flat index), so misplaced rows show.
vl::tensor numbered(const vl::dims& shape) {
    vl::tensor t = vl::tensor::empty(shape, vl::dtype::f32);
    for (index_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
    return t;
}

// Puts every rank's shard of `name` back where its plan says it came from and checks that the full tensor
// is covered exactly once (split) or held whole by every rank (replicated).
void check_reassembles(const std::vector<q::shard_plan>& plans, std::size_t which, const vl::tensor& full) {
    const q::shard_spec& first = plans[0].tensors[which];
    BOOST_TEST_CONTEXT(first.name << " over " << plans.size() << " ranks") {
        if (first.replicated()) {
            for (const q::shard_plan& p : plans) {
                BOOST_TEST(p.tensors[which].replicated());
                BOOST_TEST(vt::bit_identical(q::take_shard(full, p.tensors[which]), full));
            }
            return;
        }
        const int axis = first.axis;
        const index_t extent = full.extent(axis);
        std::vector<int> holders(static_cast<std::size_t>(extent), 0);
        for (const q::shard_plan& p : plans) {
            const q::shard_spec& s = p.tensors[which];
            BOOST_TEST_REQUIRE(s.name == first.name);
            const vl::tensor shard = q::take_shard(full, s);
            BOOST_TEST_REQUIRE(shard.shape() == s.shard_shape);
            index_t at = 0;
            for (const q::index_range& r : s.parts) {
                BOOST_TEST(vt::bit_identical(shard.slice(axis, at, at + r.size()).contiguous(), full.slice(axis, r.begin, r.end).contiguous()));
                for (index_t i = r.begin; i < r.end; ++i) ++holders[static_cast<std::size_t>(i)];
                at += r.size();
            }
        }
        // Each row once, or (replicated KV heads) every row the same number of times.
        const int times = holders[0];
        BOOST_TEST(times >= 1);
        for (const int h : holders) BOOST_TEST_REQUIRE(h == times);
        if (first.name.find("k_proj") == std::string::npos && first.name.find("v_proj") == std::string::npos) BOOST_TEST(times == 1);
    }
}

std::vector<q::shard_plan> plans_for(const q::model_config& c, int size) {
    std::vector<q::shard_plan> out;
    for (int r = 0; r < size; ++r) out.push_back(q::plan_shards(c, r, size));
    return out;
}

// The plan lists every tensor of the checkpoint's language model, in order, and nothing else.
void check_covers_checkpoint(const q::shard_plan& p, const q::model_config& c) {
    std::vector<std::string> expected;
    for (const auto& e : q::expected_tensors(c, q::part::language)) expected.push_back(e.name);
    std::vector<std::string> planned;
    for (const auto& s : p.tensors) planned.push_back(s.name);
    BOOST_TEST(planned == expected, boost::test_tools::per_element());
}

q::model_config tp4_config() { return vt::tp4_config(tiny); }

}  // namespace

BOOST_AUTO_TEST_CASE(bundled_checkpoint_reassembles_at_tp_1_and_2) {
    const q::model_config c = q::load_config(tiny);
    const vl::checkpoint ck = vl::checkpoint::open(tiny);
    for (const int size : {1, 2}) {
        const std::vector<q::shard_plan> plans = plans_for(c, size);
        check_covers_checkpoint(plans[0], c);
        for (std::size_t i = 0; i < plans[0].tensors.size(); ++i) check_reassembles(plans, i, ck.get(plans[0].tensors[i].name));
    }
}

BOOST_AUTO_TEST_CASE(kv_heads_replicated_at_tp_4) {
    const q::model_config c = tp4_config();
    const std::vector<q::shard_plan> plans = plans_for(c, 4);
    check_covers_checkpoint(plans[0], c);
    for (std::size_t i = 0; i < plans[0].tensors.size(); ++i) check_reassembles(plans, i, numbered(plans[0].tensors[i].full_shape));
    // Ranks 0, 1 hold KV head 0 and ranks 2, 3 KV head 1: the head their query heads use (8 / 2 = 4 per KV head).
    for (int r = 0; r < 4; ++r) {
        BOOST_TEST(plans[r].kv_heads == 1);
        for (const auto& s : plans[r].tensors)
            if (s.name.ends_with("k_proj.weight")) BOOST_TEST(s.parts[0].begin == (r / 2) * 16);
    }
}

BOOST_AUTO_TEST_CASE(gdn_projection_split_by_sections) {
    const q::model_config c = tp4_config();
    const q::text_config& t = c.text;
    const index_t key_dim = t.linear_key_dim();  // 32: q rows [0, 32), k rows [32, 64), v rows [64, 136)
    for (int r = 0; r < 4; ++r) {
        const q::shard_plan p = q::plan_shards(c, r, 4);
        for (const auto& s : p.tensors) {
            if (!s.name.ends_with("in_proj_qkv.weight") && !s.name.ends_with("conv1d.weight")) continue;
            BOOST_TEST_REQUIRE(s.parts.size() == 3u);
            // key head r (8 rows) of q and of k, value heads 3r..3r+2 (18 rows) of v: the heads v-heads 3r.. use.
            BOOST_TEST(s.parts[0].begin == r * 8);
            BOOST_TEST(s.parts[1].begin == key_dim + r * 8);
            BOOST_TEST(s.parts[2].begin == 2 * key_dim + r * 18);
            BOOST_TEST(s.parts[2].size() == 18);
            BOOST_TEST(s.shard_shape[0] == 8 + 8 + 18);
        }
    }
}

BOOST_AUTO_TEST_CASE(shapes_at_27b_widths_for_tp_2) {
    q::model_config c = q::load_config(tiny);
    q::text_config& t = c.text;
    t.vocab_size = 248320, t.hidden_size = 5120, t.intermediate_size = 17408, t.num_attention_heads = 24, t.num_key_value_heads = 4, t.head_dim = 256;
    t.linear_num_key_heads = 16, t.linear_num_value_heads = 48, t.linear_key_head_dim = 128, t.linear_value_head_dim = 128;
    const q::shard_plan p = q::plan_shards(c, 1, 2);
    // Shapes by name within a layer ("layers.<i>." dropped), and by full name elsewhere.
    std::map<std::string, vl::dims> shape;
    for (const auto& s : p.tensors) {
        const std::size_t layer = s.name.find("layers.");
        shape[layer == std::string::npos ? s.name : s.name.substr(s.name.find('.', layer + 7) + 1)] = s.shard_shape;
    }
    BOOST_TEST((shape["self_attn.q_proj.weight"] == vl::dims{6144, 5120}));
    BOOST_TEST((shape["self_attn.k_proj.weight"] == vl::dims{512, 5120}));
    BOOST_TEST((shape["self_attn.o_proj.weight"] == vl::dims{5120, 3072}));
    BOOST_TEST((shape["linear_attn.in_proj_qkv.weight"] == vl::dims{5120, 5120}));
    BOOST_TEST((shape["linear_attn.conv1d.weight"] == vl::dims{5120, 1, 4}));
    BOOST_TEST((shape["linear_attn.in_proj_z.weight"] == vl::dims{3072, 5120}));
    BOOST_TEST((shape["linear_attn.in_proj_b.weight"] == vl::dims{24, 5120}));
    BOOST_TEST((shape["linear_attn.out_proj.weight"] == vl::dims{5120, 3072}));
    BOOST_TEST((shape["mlp.gate_proj.weight"] == vl::dims{8704, 5120}));
    BOOST_TEST((shape["mlp.down_proj.weight"] == vl::dims{5120, 8704}));
    BOOST_TEST((shape["lm_head.weight"] == vl::dims{124160, 5120}));
    BOOST_TEST(p.vocab_begin == 124160);
    BOOST_TEST((q::valid_tensor_parallel_sizes(t, 64) == std::vector<int>{1, 2, 4, 8}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tied_head_is_split_from_the_embedding) {
    q::model_config c = q::load_config(tiny);
    c.tie_word_embeddings = true;
    const q::shard_plan p = q::plan_shards(c, 1, 2);
    BOOST_TEST(p.lm_head.name == "model.language_model.embed_tokens.weight");
    BOOST_TEST(p.lm_head.parts[0].begin == 1024);
    for (const auto& s : p.tensors) BOOST_TEST(s.name != "lm_head.weight");
    // A tied config whose checkpoint stores its own head: the stored one, split (as HF uses it).
    const q::shard_plan stored = q::plan_shards(c, 1, 2, q::lm_head_source::stored);
    BOOST_TEST(stored.lm_head.name == "lm_head.weight");
}

BOOST_AUTO_TEST_CASE(sizes_that_cannot_split_are_refused) {
    const q::model_config c = q::load_config(tiny);  // 4 query / 2 KV heads, GDN 2 key heads
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(c, 0, 3); },
                                       {"tensor parallel size 3 cannot split this model", "num_attention_heads 4 is not divisible by 3",
                                        "(sizes that work: 1, 2)"},
                                       "TP 3");
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(c, 0, 4); }, {"linear_num_key_heads 2 is not divisible by 4", "sizes that work: 1, 2"},
                                       "TP 4: GDN key heads");
    q::model_config odd_vocab = c;
    odd_vocab.text.vocab_size = 2047;
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(odd_vocab, 0, 2); }, {"vocab_size 2047 is not divisible by 2", "sizes that work: 1)"},
                                       "odd vocabulary");
    q::model_config kv3 = tp4_config();
    kv3.text.num_key_value_heads = 3, kv3.text.num_attention_heads = 12;
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(kv3, 0, 4); }, {"num_key_value_heads 3 cannot be replicated evenly over 4 ranks"},
                                       "KV heads neither split nor replicated evenly");
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(c, 2, 2); }, {"rank 2 is outside 0..1"}, "rank");
    vt::check_throws<vl::config_error>([&] { (void)q::plan_shards(c, 0, 0); }, {"size must be at least 1"}, "size 0");
    vt::check_throws<vl::shape_error>([&] { (void)q::take_shard(numbered({3, 3}), q::plan_shards(c, 0, 2).tensors[2]); }, {"the plan expects"},
                                      "a tensor of another shape");
}
