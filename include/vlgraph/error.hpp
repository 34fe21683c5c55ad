// vlgraph/error.hpp — the error types every part of vlgraph throws.
//
// All errors derive from vl::error (a std::runtime_error), so a caller can catch
// one type; the subclasses let tests and programs tell the cause apart.
// Messages always name the op, file, tensor or field at fault.
#pragma once

#include <stdexcept>
#include <string>

namespace vl {

struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// An expression was built from operands whose extents do not fit the op's shape rule.
struct shape_error : error {
    using error::error;
};
// A value had a dtype the operation does not accept.
struct dtype_error : error {
    using error::error;
};
// A file (safetensors, index, json, image) is malformed or inconsistent.
struct format_error : error {
    using error::error;
};
// A config.json (or other configuration) field is missing, mistyped or out of range.
struct config_error : error {
    using error::error;
};
// The operating system refused an I/O request (open, stat, mmap, read, write).
struct io_error : error {
    using error::error;
};
// A backend could not run (no CUDA device, CUDA/cuBLAS failure, ...).
struct backend_error : error {
    using error::error;
};

}  // namespace vl
