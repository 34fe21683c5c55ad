// The in-process communicator (backends/cpu/comm.hpp), ranks as threads:
//   - all_reduce_sum equals the rank-order f32 sum, bit for bit, on every rank (2, 3 and 4 ranks; f32 and
//     bf16), and gives the same bits on every run;
//   - broadcast and all_gather move exactly the right bytes;
//   - a shape mismatch between ranks is a vl::shape_error on every rank (no hang);
//   - the CPU executor refuses a communicator of device buffers (NCCL's) in the collective ops.
#define BOOST_TEST_MODULE comm_cpu
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/comm.hpp>
#include <vlgraph/backends/cpu/cpu.hpp>

#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using vl::index_t;

// Runs body(rank's communicator) on one thread per rank; rethrows nothing (each rank records its own).
void on_ranks(vl::cpu::local_group& g, const std::function<void(vl::communicator&)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < g.size(); ++r) threads.emplace_back([&, r] { body(g.rank(r)); });
    for (auto& t : threads) t.join();
}

vl::tensor values_of(int rank, index_t n, vl::dtype type) {
    return vt::make({n}, [&](index_t i) { return 0.1 * vt::small_int(i + 97 * rank, 17 + rank) + 1e-3 * rank; }).to(type);
}

}  // namespace

BOOST_AUTO_TEST_CASE(all_reduce_is_the_rank_order_sum_on_every_rank) {
    for (const vl::dtype type : {vl::dtype::f32, vl::dtype::bf16})
        for (const int size : {2, 3, 4}) {
            const index_t n = 1031;
            std::vector<float> want(n, 0.0f);
            for (int r = 0; r < size; ++r) {
                const vl::tensor x = values_of(r, n, type).to(vl::dtype::f32);
                for (index_t i = 0; i < n; ++i) want[static_cast<std::size_t>(i)] += x.data<float>()[i];
            }
            const vl::tensor expected = vl::tensor::from(want, {n}).to(type);
            for (int run = 0; run < 2; ++run) {
                vl::cpu::local_group g(size);
                std::vector<vl::tensor> got(static_cast<std::size_t>(size));
                on_ranks(g, [&](vl::communicator& c) {
                    vl::tensor t = values_of(c.rank(), n, type);
                    c.all_reduce_sum(t);
                    got[static_cast<std::size_t>(c.rank())] = t;
                });
                for (int r = 0; r < size; ++r)
                    BOOST_TEST(vt::bit_identical(got[static_cast<std::size_t>(r)], expected), vl::name_of(type) << ", " << size << " ranks, rank " << r);
            }
        }
}

BOOST_AUTO_TEST_CASE(broadcast_and_all_gather) {
    vl::cpu::local_group g(3);
    std::vector<vl::tensor> bcast(3), gathered(3);
    on_ranks(g, [&](vl::communicator& c) {
        vl::tensor t = values_of(c.rank(), 10, vl::dtype::f32);
        c.broadcast(t, 2);
        bcast[static_cast<std::size_t>(c.rank())] = t;
        const vl::tensor part = values_of(c.rank(), 4, vl::dtype::bf16).reshape({2, 2});
        vl::tensor out = vl::tensor::empty({6, 2}, vl::dtype::bf16);
        c.all_gather(part, out);
        gathered[static_cast<std::size_t>(c.rank())] = out;
    });
    for (int r = 0; r < 3; ++r) {
        BOOST_TEST(vt::bit_identical(bcast[static_cast<std::size_t>(r)], values_of(2, 10, vl::dtype::f32)));
        for (int part = 0; part < 3; ++part)
            BOOST_TEST(vt::bit_identical(gathered[static_cast<std::size_t>(r)].slice(0, 2 * part, 2 * part + 2).contiguous(),
                                         values_of(part, 4, vl::dtype::bf16).reshape({2, 2})));
    }
}

BOOST_AUTO_TEST_CASE(mismatched_ranks_are_errors_on_every_rank) {
    vl::cpu::local_group g(2);
    std::vector<std::string> errors(2);
    on_ranks(g, [&](vl::communicator& c) {
        try {
            vl::tensor t = values_of(c.rank(), c.rank() == 0 ? 8 : 9, vl::dtype::f32);
            c.all_reduce_sum(t);
        } catch (const vl::shape_error& e) {
            errors[static_cast<std::size_t>(c.rank())] = e.what();
        }
    });
    for (const std::string& e : errors) BOOST_TEST(e.find("the ranks passed different buffers (8 F32, 9 F32)") != std::string::npos, e);
    // The group is still usable afterwards.
    std::vector<float> sums(2);
    on_ranks(g, [&](vl::communicator& c) {
        vl::tensor t = vl::tensor::from(std::vector<float>{1.0f + static_cast<float>(c.rank())}, {1});
        c.all_reduce_sum(t);
        sums[static_cast<std::size_t>(c.rank())] = t.data<float>()[0];
    });
    BOOST_TEST(sums == std::vector<float>({3.0f, 3.0f}), boost::test_tools::per_element());
    vt::check_throws<vl::config_error>([] { vl::cpu::local_group bad(0); }, {"size must be at least 1"}, "size 0");
}

// What the CPU lowerings see of an NCCL communicator: device buffers (space()). It is never called.
struct device_group final : vl::communicator {
    int rank() const override { return 0; }
    int size() const override { return 2; }
    vl::memory_space space() const override { return vl::memory_space::device; }
    void all_reduce_sum(void*, std::size_t, vl::dtype) override { throw std::logic_error("device_group: not a real group"); }
    void broadcast(void*, std::size_t, int) override { throw std::logic_error("device_group: not a real group"); }
    void all_gather(const void*, void*, std::size_t) override { throw std::logic_error("device_group: not a real group"); }
};

BOOST_AUTO_TEST_CASE(a_device_communicator_is_refused_on_the_cpu) {
    device_group nccl_like;
    vl::cpu::executor cpu{1};
    const vl::tensor x = values_of(0, 4, vl::dtype::f32).reshape({1, 4});
    vt::check_throws<vl::backend_error>([&] { (void)vl::eval(vl::all_reduce_sum(vl::input<2>(x), &nccl_like), cpu); },
                                        {"cpu executor: all_reduce_sum over a communicator of device buffers (NCCL)"}, "all_reduce_sum");
    vt::check_throws<vl::backend_error>([&] { (void)vl::eval(vl::all_gather_columns(vl::input<2>(x), &nccl_like), cpu); },
                                        {"cpu executor: all_gather_columns over a communicator of device buffers (NCCL)"}, "all_gather_columns");
}
