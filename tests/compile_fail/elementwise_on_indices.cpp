#include <vlgraph/vlgraph.hpp>
void f(const vl::tensor& t) {
    auto ids = vl::indices<1>(t);
    (void)vl::exp(ids);  // integer values are for gather only
}
