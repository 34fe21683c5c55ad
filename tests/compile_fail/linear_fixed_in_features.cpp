#include <vlgraph/vlgraph.hpp>
void f(const vl::tensor& t) {
    (void)vl::linear(vl::input(t, vl::extents<vl::dyn, 64>{}), vl::input(t, vl::extents<128, 32>{}));
}
