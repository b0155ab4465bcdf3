// The Python-side ForwardBatch: the C++ batch plus what keeps its pool and streams alive.
#pragma once

#include <memory>

#include "bindings.hpp"

#include "gdn/forward_batch.hpp"
#include "gdn/tensor.hpp"

namespace gdn::python {

namespace py = pybind11;

struct PyBatch {
    PyBatch(std::shared_ptr<GDNPool> p, ForwardBatch b) : pool(std::move(p)), batch(std::move(b)) {}

    std::shared_ptr<GDNPool> pool;  // outlives the batch
    ForwardBatch batch;
    std::shared_ptr<Stream> stream;  // the caller's choice (batch.stream = s), or null
    // Where the caller chose none on a backend with native streams: the framework's current
    // stream (torch.cuda.current_stream()), wrapped once per native stream for the whole process
    // (framework_stream_for), followed whenever that stream changes.
    std::shared_ptr<Stream> framework_stream;
    void* framework_handle = nullptr;

    // Puts the batch on the framework's current stream when `like` (an input tensor, imported as
    // `seen`) is a torch tensor in device memory and the caller chose no stream.
    void follow_framework_stream(py::handle like, const TensorView& seen);
};

}  // namespace gdn::python
