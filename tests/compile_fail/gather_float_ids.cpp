#include <vlgraph/vlgraph.hpp>
void f(const vl::tensor& t) {
    (void)vl::gather(vl::input<2>(t), vl::input<1>(t));  // ids must be integer
}
