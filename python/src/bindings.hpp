// The pieces of the _gdn extension module, one file each; module.cpp calls them in order.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // in every file: the same conversions everywhere

namespace gdn::python {

namespace py = pybind11;

void bind_errors(py::module_& m);     // errors.cpp: the gdn.Error hierarchy and its translator
void bind_dlpack(py::module_& m);     // dlpack.cpp: gdn.TensorView, DLPack out of gdn memory
void bind_registry(py::module_& m);   // registry.cpp: backends, open, load reports, Backend, Stream
void bind_pool(py::module_& m);       // pool.cpp: GDNPool
void bind_batch(py::module_& m);      // batch.cpp: ForwardBatch
void bind_layer(py::module_& m);      // layer.cpp: RadixLinearAttention
void bind_reference(py::module_& m);  // reference.cpp: the fp64 reference and golden-file checks
void bind_serving(py::module_& m);    // serving.cpp: pools over engine memory, slot transfer blobs

}  // namespace gdn::python
