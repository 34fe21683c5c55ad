#include <vlgraph/vlgraph.hpp>
void f(const vl::tensor& t) {
    (void)(vl::input<1>(t) + vl::indices<1>(t));
}
