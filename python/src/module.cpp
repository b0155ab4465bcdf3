// The _gdn extension module: the C++ API of gdn for Python. The package gdn (gdn/__init__.py)
// re-exports it; the documentation of every name is in its docstring and in gdn/__init__.pyi.
#include "bindings.hpp"

PYBIND11_MODULE(_gdn, m) {
    m.doc() = "gdn: the Gated DeltaNet layer with run-time loaded backends (C++ core bindings).";
    using namespace gdn::python;
    bind_errors(m);
    bind_dlpack(m);
    bind_registry(m);
    bind_pool(m);
    bind_batch(m);
    bind_layer(m);
    bind_reference(m);
    bind_serving(m);
}
