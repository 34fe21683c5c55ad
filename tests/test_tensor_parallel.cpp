// Tensor parallelism on the CPU: ranks are threads (vl::cpu::local_group), each loading its shard
// (language_weights::load_shard) and running the unchanged model, whose row-parallel projections are
// all-reduced and whose logits are gathered. Against the unsharded model (TP 1):
//   - the bundled checkpoint at TP 2: prompt logits of a text and a two-image prompt and of a prefill in two
//     chunks within 2e-5 relative (see bundled_tolerance), and 16 greedy tokens identical (text and image);
//   - a second checkpoint (random weights written here) whose config differs: 8 query / 2 KV heads
//     (replicated at TP 4), d_k != d_v, 3 value heads per key head: logits at TP 2 and TP 4 within 1e-6;
//   - every rank computes the same logits bit for bit.
#define BOOST_TEST_MODULE tensor_parallel
#include <boost/test/unit_test.hpp>

#include "lm_goldens.hpp"
#include "test_util.hpp"
#include "tp_configs.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cpu/comm.hpp>
#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <vector>

namespace {

namespace q = vl::qwen36;
using vl::index_t;

const std::string tiny = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36";

// fn(rank's weights, rank's executor) on `size` threads, one shard each; returns each rank's result.
template <class R>
std::vector<R> on_shards(const vl::checkpoint& ck, const q::model_config& config, int size,
                         const std::function<R(const q::language_weights&, vl::cpu::executor&)>& fn) {
    vl::cpu::local_group group(size);
    std::vector<R> out(static_cast<std::size_t>(size));
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r)
        threads.emplace_back([&, r] {
            const q::language_weights w =
                q::language_weights::load_shard(ck, config, vl::dtype::f32, q::matrix_storage::converted, q::plan_shards(config, r, size), group.rank(r));
            vl::cpu::executor exec{1};
            out[static_cast<std::size_t>(r)] = fn(w, exec);
        });
    for (auto& t : threads) t.join();
    return out;
}

// Every rank's tensor is the same bits, and within `tol` of the unsharded one (max |a − b| / max |b|).
void check_ranks(const std::vector<vl::tensor>& ranks, const vl::tensor& whole, double tol, const std::string& what) {
    for (std::size_t r = 0; r < ranks.size(); ++r) {
        BOOST_TEST(vt::bit_identical(ranks[r], ranks[0]), what << ": rank " << r << " differs from rank 0");
        const vl::error_stats e = vl::compare(ranks[r], whole);
        BOOST_TEST_MESSAGE(what << ", rank " << r << ": max relative error " << e.max_rel << ", NMSE " << e.nmse);
        BOOST_TEST(e.max_rel <= tol, what << ": rank " << r << " max relative error " << e.max_rel);
    }
}

// The sharded model sums each row-parallel projection in two or more parts (one per rank) where the whole
// model runs one FMA chain over k: a reordering at the rounding level (~1e-7 per projection) that the
// bundled checkpoint's random weights amplify to ~1e-5 over 4 layers and 181 positions — the same size as
// its distance from HF's f32 logits (docs/numerics.md). Measured: text 7.8e-6, two images 1.1e-5, chunked
// 1.5e-6 (last 8 positions); the second checkpoint 5e-7.
constexpr double bundled_tolerance = 2e-5, second_tolerance = 1e-6;

// A checkpoint of random weights for `c` in a fresh directory (removed by the destructor).
struct random_checkpoint {
    std::filesystem::path dir;
    explicit random_checkpoint(const q::model_config& c) {
        dir = std::filesystem::temp_directory_path() / ("vlgraph-tp-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> u(-0.08f, 0.08f);
        std::vector<std::pair<std::string, vl::tensor>> tensors;
        for (const auto& e : q::expected_tensors(c, q::part::language)) {
            vl::tensor t = vl::tensor::empty(vl::dims(e.shape.begin(), e.shape.end()), vl::dtype::f32);
            const bool positive = e.name.ends_with("A_log");  // decay rates exp(A_log) of order 1
            for (index_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = positive ? 0.5f + 4 * u(rng) : u(rng);
            tensors.emplace_back(e.name, std::move(t));
        }
        vl::save_safetensors(dir / "model.safetensors", tensors);
    }
    ~random_checkpoint() { std::filesystem::remove_all(dir); }
};

vl::tensor ids_of(std::initializer_list<std::int64_t> ids) { return vl::tensor::from(std::vector<std::int64_t>(ids), {static_cast<index_t>(ids.size())}); }

}  // namespace

BOOST_AUTO_TEST_CASE(bundled_checkpoint_at_tp_2) {
    const q::model_config config = q::load_config(tiny);
    const vl::checkpoint ck = vl::checkpoint::open(tiny);
    const q::language_weights whole = q::language_weights::load(ck, config, vl::dtype::f32);
    vl::cpu::executor cpu{1};

    // A text prompt: every position's logits.
    const vl::tensor ids = vl::test::prompt_tensor("text.input_ids"), positions = vl::test::prompt_tensor("text.position_ids");
    const vl::tensor want = q::prompt_logits(whole, ids, {}, positions, cpu);
    check_ranks(on_shards<vl::tensor>(ck, config, 2, [&](const q::language_weights& w, vl::cpu::executor& e) { return q::prompt_logits(w, ids, {}, positions, e); }),
                want, bundled_tolerance, "text prompt logits");

    // The two-image prompt (the vision tower replicated: every rank has the same image rows).
    const vl::test::hf_pixels_t ab = vl::test::hf_pixels(vl::test::images_ab);
    const vl::tensor images = q::vision_forward(q::vision_weights::load(tiny, vl::dtype::f32), ab.values, ab.grids, cpu).image_embeds;
    const vl::tensor mm_ids = vl::test::prompt_tensor("mm.input_ids");
    const std::vector<q::grid_thw> grids = q::grids_from_tensor(vl::test::prompt_tensor("mm.image_grid_thw"));
    const vl::tensor mm_pos = q::get_rope_index(vl::test::ints(mm_ids), grids, {}, config).position_ids;
    check_ranks(on_shards<vl::tensor>(ck, config, 2,
                                      [&](const q::language_weights& w, vl::cpu::executor& e) { return q::prompt_logits(w, mm_ids, images, mm_pos, e); }),
                q::prompt_logits(whole, mm_ids, images, mm_pos, cpu), bundled_tolerance, "image prompt logits");

    // A prefill in two chunks (the cache carried between them).
    const auto two_chunks = [&](const q::language_weights& w, vl::cpu::executor& e) {
        const vl::tensor embeds = q::embed_prompt(w, ids, {}, e);
        q::model_cache cache = q::model_cache::empty(w.config.text);
        const index_t n = ids.extent(0), cut = 70;
        (void)q::language_forward(w, embeds.slice(0, 0, cut).contiguous(), positions.slice(1, 0, cut).contiguous(), cache, e);
        return q::language_forward(w, embeds.slice(0, cut, n).contiguous(), positions.slice(1, cut, n).contiguous(), cache, e, {8, false}).logits;
    };
    check_ranks(on_shards<vl::tensor>(ck, config, 2, two_chunks), two_chunks(whole, cpu), bundled_tolerance, "chunked prefill logits");

    // 16 greedy tokens, text and image prompts: the same tokens.
    q::generate_options opt;
    opt.max_new_tokens = 16;
    for (const bool image : {false, true}) {
        const auto run = [&](const q::language_weights& w, vl::cpu::executor& e) {
            return image ? q::generate(w, mm_ids, images, grids, opt, e).tokens : q::generate(w, ids, {}, {}, opt, e).tokens;
        };
        const std::vector<std::int32_t> one = run(whole, cpu);
        BOOST_TEST_REQUIRE(one.size() == 16u);
        for (const auto& tokens : on_shards<std::vector<std::int32_t>>(ck, config, 2, run))
            BOOST_TEST(tokens == one, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(second_checkpoint_at_tp_2_and_4) {
    const q::model_config config = vt::tp4_config(tiny);
    const random_checkpoint dir(config);
    const vl::checkpoint ck = vl::checkpoint::open(dir.dir);
    const q::language_weights whole = q::language_weights::load(ck, config, vl::dtype::f32);
    vl::cpu::executor cpu{1};
    const vl::tensor ids = ids_of({5, 17, 200, 3, 99, 42, 42, 7, 128, 255, 1, 64, 33, 90, 12, 8, 77, 150, 2, 31});
    vl::tensor positions = vl::tensor::empty({3, ids.extent(0)}, vl::dtype::i64);
    for (index_t a = 0; a < 3; ++a)
        for (index_t i = 0; i < ids.extent(0); ++i) positions.data<std::int64_t>()[a * ids.extent(0) + i] = i;
    const vl::tensor want = q::prompt_logits(whole, ids, {}, positions, cpu);
    for (const int size : {2, 4})
        check_ranks(on_shards<vl::tensor>(ck, config, size,
                                          [&](const q::language_weights& w, vl::cpu::executor& e) { return q::prompt_logits(w, ids, {}, positions, e); }),
                    want, second_tolerance, "TP " + std::to_string(size) + " logits");
}

BOOST_AUTO_TEST_CASE(a_plan_for_another_rank_is_refused) {
    const q::model_config config = q::load_config(tiny);
    vl::cpu::local_group group(2);
    vt::check_throws<vl::config_error>(
        [&] { (void)q::language_weights::load_shard(vl::checkpoint::open(tiny), config, vl::dtype::f32, q::matrix_storage::converted, q::plan_shards(config, 0, 2), group.rank(1)); },
        {"a plan for rank 0 of 2 with a communicator of rank 1 of 2"}, "rank mismatch");
}
