// tests/cuda/test_nccl_one_rank.cu — the NCCL communicator (backends/cuda/comm.cuh) on one GPU: a group of
// one rank (ncclCommInitAll with one device; one GPU cannot hold two NCCL ranks), the GPU check's NCCL step
// (scripts/gpu-check.sh runs every cuda_test_*):
//
//   - its collectives on device buffers: the all-reduce of f32 and of bf16 (widened to f32 and rounded back:
//     the same bits at one rank), the broadcast and the all-gather leave one rank's data as it is;
//   - the prompt logits of the tiny bf16 checkpoint loaded as rank 0 of 1 (language_weights::load_shard with
//     the NCCL communicator, on executor<bf16> over the communicator's stream) equal those of the unsharded
//     load without a communicator, within bf16 tolerance (a group of one reduces nothing: they agree exactly).
//
// On the counting stand-in kernels do not run, so this test belongs to the GPU machine (it skips, exit 77,
// where there is no GPU); the two-rank counts are test_tensor_parallel_counts.cu.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"

#include <vlgraph/backends/cuda/comm.cuh>
#include <vlgraph/backends/cuda/cuda.cuh>
#include <vlgraph/compare.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;
using vl::tensor;

const std::string bf16_checkpoint = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36-bf16";

void collectives_of_one_rank() {
    vl::cuda::nccl_group group = vl::cuda::nccl_group::init_all({0});
    vl::cuda::nccl_communicator& comm = group.rank(0);
    BOOST_TEST((comm.rank() == 0 && comm.size() == 1 && comm.space() == vl::memory_space::device));
    std::vector<float> values;
    for (int i = 0; i < 1000; ++i) values.push_back(0.01f * static_cast<float>(i) - 3.0f);
    const tensor host = tensor::from(values, {1000});
    const tensor f32 = vl::cuda::to_device(host), bf16 = vl::cuda::to_device(host, vl::dtype::bf16);
    comm.all_reduce_sum(f32);
    comm.all_reduce_sum(bf16);
    comm.broadcast(f32, 0);
    const tensor gathered = vl::cuda::empty_device({1000}, vl::dtype::f32);
    comm.all_gather(f32, gathered);
    BOOST_TEST(vl::compare(vl::cuda::to_host(f32, comm.stream()), host).max_abs == 0.0);
    BOOST_TEST(vl::compare(vl::cuda::to_host(gathered, comm.stream()), host).max_abs == 0.0);
    BOOST_TEST(vl::compare(vl::cuda::to_host(bf16, comm.stream()).to(vl::dtype::f32), host.to(vl::dtype::bf16).to(vl::dtype::f32)).max_abs == 0.0);
}

void logits_of_rank_0_of_1_equal_the_unsharded_model() {
    const vl::checkpoint ck = vl::checkpoint::open(bf16_checkpoint);
    const q36::model_config cfg = q36::load_config(bf16_checkpoint);
    std::vector<std::int64_t> ids;
    for (std::int64_t i = 0; i < 24; ++i) ids.push_back((37 * i + 11) % cfg.text.vocab_size);
    const tensor input_ids = tensor::from(ids, {static_cast<index_t>(ids.size())});
    const tensor positions = q36::text_position_ids(0, input_ids.extent(0));
    const auto up = [](const tensor& t) { return vl::cuda::to_device(t, vl::dtype::bf16); };

    vl::cuda::executor<vl::bf16> plain;
    const tensor whole = plain.to_host(q36::prompt_logits(q36::language_weights::load(ck, cfg, vl::dtype::bf16).map(up), input_ids, {}, positions, plain));

    vl::cuda::nccl_group group = vl::cuda::nccl_group::init_all({0});
    vl::cuda::executor<vl::bf16> gpu{group.rank(0).stream()};
    const q36::language_weights shard =
        q36::language_weights::load_shard(ck, cfg, vl::dtype::bf16, q36::matrix_storage::as_stored, q36::plan_shards(cfg, 0, 1), group.rank(0)).map(up);
    BOOST_TEST(shard.tp == &group.rank(0));
    const tensor sharded = gpu.to_host(q36::prompt_logits(shard, input_ids, {}, positions, gpu));
    const vl::error_stats e = vl::compare(sharded.to(vl::dtype::f32), whole.to(vl::dtype::f32));
    BOOST_TEST_MESSAGE("TP 1 over NCCL against no communicator: max relative error " << e.max_rel << ", max abs " << e.max_abs);
    BOOST_TEST(e.max_rel <= 1e-2);  // bf16 tolerance; a group of one adds no work, so 0 is expected
}

}  // namespace

int main(int argc, char** argv) {
    return vl::test::run_cuda_tests(argc, argv, "cuda_nccl_one_rank", [](boost::unit_test::test_suite& all) {
        all.add(VL_CUDA_TEST_CASE(collectives_of_one_rank));
        all.add(VL_CUDA_TEST_CASE(logits_of_rank_0_of_1_equal_the_unsharded_model));
    });
}
