// Tensors in and out of gdn through DLPack, never copied.
//
// In: any object with __dlpack__ (torch, NumPy, CuPy, JAX, ...) or a "dltensor" capsule becomes a
// TensorView over the producer's own memory; the capsule is kept for as long as the view is used,
// and returning it to Python gives the memory back to its producer.
// Out: memory that gdn owns (pool states, tensors gdn allocated) is offered as gdn.TensorView,
// an object with __dlpack__ / __dlpack_device__ whose capsules keep that memory's owner alive.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bindings.hpp"

#include "gdn/backend.hpp"
#include "gdn/tensor.hpp"

namespace gdn::python {

namespace py = pybind11;

struct ImportedTensor {
    // Keeps the producer's memory: the DLPack capsule (its DLManagedTensor is given back when the
    // capsule goes), or a torch tensor itself where it was read from its metadata (import_tensor)
    // or allocated by forward.
    py::object capsule;
    TensorView view;
};

// `obj` as a view of the producer's memory, through DLPack; torch tensors are read from their own
// metadata instead (the description their DLPack export gives, without building one per call),
// or with GDN_PYTHON_DLPACK_ONLY=1 through torch's exporter too. Host memory becomes a host view (the layer checks that the backend can read it);
// device memory must be on `backend`'s device, and becomes a view on it. Errors name `name`.
ImportedTensor import_tensor(py::handle obj, const char* name, const Backend& backend);
// Same, where no backend is given yet (layer weights): device memory selects the backend of its
// device through the registry ("cuda:N", "rocm:N").
ImportedTensor import_tensor_any(py::handle obj, const char* name);

// sys.modules[name] when that module was imported (a borrowed reference), else NULL.
PyObject* loaded_module(const char* name);

// True for a torch.Tensor (without importing torch when the caller never did).
bool is_torch_tensor(py::handle obj);

// gdn.TensorView over `view`; `owner` keeps the memory alive for as long as this object or any
// tensor made from its capsules lives (it is released without the GIL: hold no Python object).
py::object export_view(const TensorView& view, std::shared_ptr<const void> owner);

// Every element of a host tensor (any dtype, any strides) as double.
std::vector<double> host_doubles(const ImportedTensor& t, const char* name);

}  // namespace gdn::python
