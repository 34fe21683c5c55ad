// An executor that lowers nothing: evaluating any heavy op must name the missing lowering.
#include <vlgraph/vlgraph.hpp>
struct fake_executor {
    using compute_type = float;
    static constexpr vl::memory_space space = vl::memory_space::host;
    vl::trace_fn trace;
    vl::recording* recording = nullptr;
    vl::work_counters counters;
    std::byte* arena(std::size_t) { return nullptr; }
    vl::tensor make_tensor(std::span<const vl::index_t> s, vl::dtype t) const { return vl::tensor::empty(vl::dims(s.begin(), s.end()), t); }
    void finish() {}
};
void f(const vl::tensor& t) {
    fake_executor ex;
    (void)vl::eval(vl::softmax(vl::input<2>(t)), ex);
}
