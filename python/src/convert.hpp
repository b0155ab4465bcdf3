// Python values to the C++ API's arguments: dtypes given by name or by a framework's dtype
// object, and index lists given as sequences or tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "bindings.hpp"

#include "gdn/dtype.hpp"

namespace gdn::python {

namespace py = pybind11;

// 'bf16', 'bfloat16', torch.bfloat16, numpy.float32, numpy.dtype('float16'), ...
DType parse_dtype(py::handle obj, const char* name);

// A list of ints from a sequence, a NumPy array or a torch tensor (on any device: .tolist()).
std::vector<int64_t> int_list(py::handle obj, const char* name);

}  // namespace gdn::python
