// tests/cuda/test_tensor_parallel_counts.cu — tensor parallelism on executor<bf16> over NCCL
// (backends/cuda/comm.cuh), two ranks in one process (ncclCommInitAll, a thread per device):
//
//   - the decode step at the Qwen3.6-27B layer widths (tests/cuda/wide_model.hpp: GDN, GDN, attention),
//     sharded TP 2 by plan_shards, recorded once per rank (qwen36::language_program) and replayed: per rank
//     and step exactly 2 all-reduces per layer (the mixer's output projection and down_proj) and 1
//     all-gather (the logits), all replayed from the rank's graph, none issued from the host; 0 allocations,
//     1 host synchronisation (reading the logits) and 1 graph launch per rank;
//   - values of the collectives through the ops on executor<float> (the f32 path: copies and NCCL only,
//     which the stand-in runs with VLSHIM_DATA=1): a sum over the ranks and gathered columns;
//   - a CPU communicator (vl::cpu::local_group, host buffers) given to the CUDA executor is refused.
//
// Without GPUs this runs on the counting stand-in (../shared/tools/cudashim; CTest
// `cuda_test_tensor_parallel_counts_on_cudashim`, VLSHIM_DEVICES=2 VLSHIM_DATA=1), whose counts
// (vlshim_report, the whole process: both ranks) are checked; on a machine with fewer than two GPUs the
// two-rank cases say so and pass (one GPU cannot hold two NCCL ranks; test_nccl_one_rank.cu is its check).
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"
#include "shim_report.hpp"
#include "wide_model.hpp"

#include <vlgraph/backends/cpu/comm.hpp>
#include <vlgraph/backends/cuda/comm.cuh>
#include <vlgraph/backends/cuda/cuda.cuh>
#include <vlgraph/models/qwen36/language.hpp>

#include <barrier>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;
using vl::tensor;

constexpr int ranks = 2;

bool have_two_devices() {
    if (vl::cuda::device_count() >= ranks) return true;
    BOOST_TEST_MESSAGE("fewer than " << ranks << " CUDA devices: the two-rank case is not run (on the stand-in: VLSHIM_DEVICES=2)");
    return false;
}

// fn(rank, sync) on one thread per rank with its device current; sync is a barrier of all ranks (a rank
// that fails drops out of it, so that the others do not wait for it). Rethrows the first rank's error.
void on_ranks(const std::function<void(int, std::barrier<>&)>& fn) {
    std::barrier<> sync(ranks);
    std::vector<std::exception_ptr> errors(ranks);
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            try {
                VL_CUDA_CHECK(cudaSetDevice(r));
                fn(r, sync);
            } catch (...) {
                errors[static_cast<std::size_t>(r)] = std::current_exception();
                sync.arrive_and_drop();
            }
        });
    for (auto& t : threads) t.join();
    VL_CUDA_CHECK(cudaSetDevice(0));
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
}

void decode_step_collectives_at_tp_2() {
    if (!have_two_devices()) return;
    const q36::model_config cfg = vl::test::wide_config();
    const index_t layers = cfg.text.num_hidden_layers;
    vl::cuda::nccl_group group = vl::cuda::nccl_group::init_all({0, 1});
    constexpr int steps = 3;
    constexpr index_t prompt = 8, capacity = 64;
    std::vector<vl::work_counters> counters(ranks * steps);  // [rank][step], the executors' own counts
    std::vector<vl::test::shim_counts> capture_counts(1), step_counts(steps);
    on_ranks([&](int r, std::barrier<>& sync) {
        vl::cuda::nccl_communicator& comm = group.rank(r);
        const q36::language_weights w = vl::test::zero_shard(cfg, q36::plan_shards(cfg, r, ranks), comm);
        vl::cuda::executor<vl::bf16> gpu{comm.stream()};
        q36::model_cache cache = q36::model_cache::empty(w.config.text, gpu);
        {
            q36::language_program<vl::cuda::executor<vl::bf16>> prefill(w, cache, prompt, /*from_ids=*/false, 1, gpu, capacity);
            std::vector<std::int64_t> ids(prompt, 7);
            q36::embed_prompt_into(w, tensor::from(ids, {prompt}), {}, prefill.embeds_input(), gpu);
            (void)gpu.to_host(prefill.run_embeds(prefill.embeds_input(), q36::text_position_ids(0, prompt)));
        }
        q36::language_program<vl::cuda::executor<vl::bf16>> decode(w, cache, 1, /*from_ids=*/true, 1, gpu, capacity);
        std::int64_t token = 9;
        sync.arrive_and_wait();
        if (r == 0) (void)vl::test::shim_report("setup: weights, prefill, decode recorded");
        sync.arrive_and_wait();
        (void)gpu.to_host(decode.run_ids({&token, 1}, q36::text_position_ids(cache.length, 1)));  // the first run captures the graph
        sync.arrive_and_wait();
        if (r == 0) capture_counts[0] = vl::test::shim_report("decode program: capture + first run (both ranks)");
        sync.arrive_and_wait();
        for (int step = 0; step < steps; ++step) {
            gpu.counters = {};
            (void)gpu.to_host(decode.run_ids({&token, 1}, q36::text_position_ids(cache.length, 1)));
            counters[static_cast<std::size_t>(r * steps + step)] = gpu.counters;
            sync.arrive_and_wait();
            if (r == 0) step_counts[static_cast<std::size_t>(step)] = vl::test::shim_report("replayed decode step (both ranks)");
            sync.arrive_and_wait();
        }
    });

    // Per rank and step: the mixer's output projection and down_proj of every layer, and the logits.
    const long all_reduces = 2 * layers, all_gathers = 1;
    for (int r = 0; r < ranks; ++r)
        for (int step = 0; step < steps; ++step)
            BOOST_TEST_CONTEXT("rank " << r << ", step " << step) {
                const vl::work_counters& k = counters[static_cast<std::size_t>(r * steps + step)];
                BOOST_TEST_MESSAGE("replayed decode step, rank " << r << ": launches " << k.launches << ", graph launches " << k.graph_launches << ", syncs "
                                                                 << k.syncs << ", allocations " << k.allocations);
                BOOST_TEST(k.allocations == 0);
                BOOST_TEST(k.syncs == 1);
                BOOST_TEST(k.graph_launches == 1);
                BOOST_TEST(k.launches == 0);
            }
    const vl::test::shim_counts& cap = capture_counts[0];
    if (cap.n.empty()) return;  // real GPUs: the executors' counts are all there is
    BOOST_TEST(!cap.problems, cap.text);
    BOOST_TEST(cap.n.at("nccl captured") == ranks * (all_reduces + all_gathers));  // recorded into the graphs, not issued
    for (int step = 0; step < steps; ++step)
        BOOST_TEST_CONTEXT("step " << step) {
            const vl::test::shim_counts& s = step_counts[static_cast<std::size_t>(step)];
            BOOST_TEST(!s.problems, s.text);
            BOOST_TEST(s.n.at("allReduce") == ranks * all_reduces);
            BOOST_TEST(s.n.at("allGather") == ranks * all_gathers);
            BOOST_TEST(s.n.at("broadcast") == 0);
            BOOST_TEST(s.n.at("nccl from graphs") == ranks * (all_reduces + all_gathers));  // every collective replayed
            BOOST_TEST(s.n.at("nccl captured") == 0);
            BOOST_TEST(s.n.at("cudaMalloc") == 0);
            BOOST_TEST(s.n.at("launches") == 0);
            BOOST_TEST(s.n.at("matmul") == 0);
            BOOST_TEST(s.n.at("graph launch") == ranks);
            BOOST_TEST(s.n.at("sync stream") + s.n.at("sync device") == ranks);  // each rank reads its logits, nothing else waits
        }
}

// Rank r holds r + 1 (and its column index) everywhere: the sum is 1 + 2 = 3 on both, the gathered columns
// are rank 0's then rank 1's. One row is gathered straight into the result, two rows through the pitched
// copies.
void collectives_through_the_ops() {
    if (!have_two_devices()) return;
    vl::cuda::nccl_group group = vl::cuda::nccl_group::init_all({0, 1});
    std::vector<tensor> sums(ranks), gathered(ranks);
    std::vector<tensor> gathered_rows(ranks);
    on_ranks([&](int r, std::barrier<>&) {
        vl::cuda::nccl_communicator& comm = group.rank(r);
        vl::cuda::executor<float> gpu{comm.stream()};
        const tensor x = vl::cuda::to_device(tensor::from(std::vector<float>(6, static_cast<float>(r + 1)), {2, 3}));
        sums[static_cast<std::size_t>(r)] = gpu.to_host(vl::eval(vl::all_reduce_sum(vl::input<2>(x), &comm), gpu));
        std::vector<float> cols;
        for (int l = 0; l < 2; ++l)
            for (int c = 0; c < 3; ++c) cols.push_back(static_cast<float>(100 * r + 10 * l + c));
        const tensor part = vl::cuda::to_device(tensor::from(cols, {2, 3}));
        gathered[static_cast<std::size_t>(r)] = gpu.to_host(vl::eval(vl::all_gather_columns(vl::input<2>(part), &comm), gpu));
        const tensor row = vl::cuda::to_device(tensor::from(std::vector<float>(cols.begin(), cols.begin() + 3), {1, 3}));
        gathered_rows[static_cast<std::size_t>(r)] = gpu.to_host(vl::eval(vl::all_gather_columns(vl::input<2>(row), &comm), gpu));
    });
    const vl::test::shim_counts s = vl::test::shim_report("collectives through the ops");
    if (!s.n.empty()) {
        BOOST_TEST(!s.problems, s.text);
        BOOST_TEST(s.n.at("allReduce") == ranks);
        BOOST_TEST(s.n.at("allGather") == 2 * ranks);
    }
    for (int r = 0; r < ranks; ++r)
        BOOST_TEST_CONTEXT("rank " << r) {
            BOOST_TEST(vl::to_string(sums[r].shape()) == "[2, 3]");
            for (index_t i = 0; i < 6; ++i) BOOST_TEST(sums[r].data<float>()[i] == 3.0f);
            BOOST_TEST_REQUIRE(vl::to_string(gathered[r].shape()) == "[2, 6]");
            for (int l = 0; l < 2; ++l)
                for (int c = 0; c < 6; ++c) BOOST_TEST(gathered[r].data<float>()[l * 6 + c] == static_cast<float>(100 * (c / 3) + 10 * l + c % 3));
            BOOST_TEST_REQUIRE(vl::to_string(gathered_rows[r].shape()) == "[1, 6]");
            for (int c = 0; c < 6; ++c) BOOST_TEST(gathered_rows[r].data<float>()[c] == static_cast<float>(100 * (c / 3) + c % 3));
        }
}

// A group of host buffers cannot feed GPU ranks: refused before anything is launched (one rank of two
// suffices, the lowering refuses before any collective would wait for the other).
void a_cpu_group_is_refused_on_cuda() {
    vl::cpu::local_group group(2);
    vl::cuda::executor<vl::bf16> gpu;
    const tensor x = vl::cuda::to_device(tensor::from(std::vector<float>(4, 1.0f), {1, 4}), vl::dtype::bf16);
    const auto names_the_fix = [](const vl::backend_error& e) {
        const std::string m = e.what();
        return m.find("host buffers (vl::cpu::local_group)") != std::string::npos && m.find("NCCL communicator") != std::string::npos;
    };
    BOOST_CHECK_EXCEPTION(vl::eval(vl::all_reduce_sum(vl::input<2>(x), &group.rank(0)), gpu), vl::backend_error, names_the_fix);
    BOOST_CHECK_EXCEPTION(vl::eval(vl::all_gather_columns(vl::input<2>(x), &group.rank(0)), gpu), vl::backend_error, names_the_fix);
}

}  // namespace

int main(int argc, char** argv) {
    return vl::test::run_cuda_tests(argc, argv, "cuda_tensor_parallel_counts", [](boost::unit_test::test_suite& all) {
        all.add(VL_CUDA_TEST_CASE(decode_step_collectives_at_tp_2));
        all.add(VL_CUDA_TEST_CASE(collectives_through_the_ops));
        all.add(VL_CUDA_TEST_CASE(a_cpu_group_is_refused_on_cuda));
    });
}
