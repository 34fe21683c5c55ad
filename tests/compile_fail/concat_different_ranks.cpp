#include <vlgraph/vlgraph.hpp>
void f(const vl::tensor& t) {
    (void)vl::concat(0, vl::input<2>(t), vl::input<3>(t));
}
