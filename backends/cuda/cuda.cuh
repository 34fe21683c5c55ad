// backends/cuda/cuda.cuh — the CUDA backend: include this (from a .cu file
// compiled by nvcc) to evaluate any vlgraph expression with
// vl::cuda::executor<float> or vl::cuda::executor<vl::bf16>.
#pragma once

#include <vlgraph/vlgraph.hpp>

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/backends/cuda/memory.cuh>
#include <vlgraph/backends/cuda/all_gather.cuh>
#include <vlgraph/backends/cuda/all_reduce.cuh>
#include <vlgraph/backends/cuda/attention.cuh>
#include <vlgraph/backends/cuda/copy.cuh>
#include <vlgraph/backends/cuda/elementwise.cuh>
#include <vlgraph/backends/cuda/gated_delta_rule.cuh>
#include <vlgraph/backends/cuda/gather.cuh>
#include <vlgraph/backends/cuda/layer_norm.cuh>
#include <vlgraph/backends/cuda/linear.cuh>
#include <vlgraph/backends/cuda/matmul.cuh>
#include <vlgraph/backends/cuda/reduce.cuh>
#include <vlgraph/backends/cuda/rms_norm.cuh>
#include <vlgraph/backends/cuda/softmax.cuh>
#include <vlgraph/backends/cuda/write_rows.cuh>
