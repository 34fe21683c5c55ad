// vlgraph/vlgraph.hpp — the core: tensors, the expression DSL and its ops.
// Backends: <vlgraph/backends/cpu/cpu.hpp>, <vlgraph/backends/cuda/cuda.cuh>.
#pragma once

#include <vlgraph/dtype.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/eval.hpp>
#include <vlgraph/expr.hpp>
#include <vlgraph/program.hpp>
#include <vlgraph/tensor.hpp>

#include <vlgraph/ops/all_gather.hpp>
#include <vlgraph/ops/all_reduce.hpp>
#include <vlgraph/ops/attention.hpp>
#include <vlgraph/ops/binary.hpp>
#include <vlgraph/ops/concat.hpp>
#include <vlgraph/ops/gated_delta_rule.hpp>
#include <vlgraph/ops/gather.hpp>
#include <vlgraph/ops/layer_norm.hpp>
#include <vlgraph/ops/linear.hpp>
#include <vlgraph/ops/matmul.hpp>
#include <vlgraph/ops/name.hpp>
#include <vlgraph/ops/permute.hpp>
#include <vlgraph/ops/reduce.hpp>
#include <vlgraph/ops/reshape.hpp>
#include <vlgraph/ops/rms_norm.hpp>
#include <vlgraph/ops/share.hpp>
#include <vlgraph/ops/slice.hpp>
#include <vlgraph/ops/softmax.hpp>
#include <vlgraph/ops/unary.hpp>
#include <vlgraph/ops/write_rows.hpp>
