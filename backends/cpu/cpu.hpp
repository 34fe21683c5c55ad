// backends/cpu/cpu.hpp — the Eigen reference backend: include this to
// evaluate any vlgraph expression with vl::cpu::executor.
#pragma once

#include <vlgraph/vlgraph.hpp>

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/backends/cpu/all_gather.hpp>
#include <vlgraph/backends/cpu/all_reduce.hpp>
#include <vlgraph/backends/cpu/attention.hpp>
#include <vlgraph/backends/cpu/copy.hpp>
#include <vlgraph/backends/cpu/elementwise.hpp>
#include <vlgraph/backends/cpu/gated_delta_rule.hpp>
#include <vlgraph/backends/cpu/gather.hpp>
#include <vlgraph/backends/cpu/layer_norm.hpp>
#include <vlgraph/backends/cpu/linear.hpp>
#include <vlgraph/backends/cpu/matmul.hpp>
#include <vlgraph/backends/cpu/reduce.hpp>
#include <vlgraph/backends/cpu/rms_norm.hpp>
#include <vlgraph/backends/cpu/softmax.hpp>
#include <vlgraph/backends/cpu/write_rows.hpp>
