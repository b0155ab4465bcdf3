// gdn.Error and one subclass per C status, so that Python code can tell "unsupported" from
// "invalid argument" from a device failure. A gdn::Error thrown anywhere below the bindings
// becomes the subclass of its status, with the C++ message unchanged.
#include <array>

#include "bindings.hpp"
#include "gdn/error.hpp"

namespace gdn::python {

namespace {

struct ErrorClass {
    gdn_status status;
    const char* name;
    const char* doc;
    PyObject* type = nullptr;
};

// Indexed by gdn_status (GDN_OK's entry is the base class).
std::array<ErrorClass, 8> classes = {{
    {GDN_OK, "Error", "Base class of every error gdn raises; `status` is the C status code."},
    {GDN_ERR_INVALID_ARGUMENT, "InvalidArgument",
     "An argument the contract forbids (shape, dtype, stride, slot, device); the message names it. "
     "Nothing was written."},
    {GDN_ERR_UNSUPPORTED, "Unsupported", "Valid, but outside the backend's declared capabilities."},
    {GDN_ERR_OUT_OF_MEMORY, "OutOfMemory", "A host or device allocation failed."},
    {GDN_ERR_NO_DEVICE, "NoDevice", "The runtime works but sees no device of this kind."},
    {GDN_ERR_DRIVER, "Driver", "The driver is missing or too old for the runtime."},
    {GDN_ERR_RUNTIME, "Runtime", "A device runtime call failed (launch, copy, synchronize)."},
    {GDN_ERR_INTERNAL, "Internal", "A bug in gdn or in a plugin."},
}};

PyObject* class_of(gdn_status status) {
    const auto i = static_cast<std::size_t>(status);
    return i > 0 && i < classes.size() ? classes[i].type : classes[0].type;
}

}  // namespace

void bind_errors(py::module_& m) {
    for (ErrorClass& c : classes) {
        const std::string qualified = std::string("gdn.") + c.name;
        PyObject* bases = nullptr;
        if (c.status == GDN_OK) {
            bases = PyExc_Exception;
            Py_INCREF(bases);
        } else if (c.status == GDN_ERR_INVALID_ARGUMENT) {
            bases = PyTuple_Pack(2, classes[0].type, PyExc_ValueError);
        } else {
            bases = classes[0].type;
            Py_INCREF(bases);
        }
        c.type = PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, bases, nullptr);
        Py_DECREF(bases);
        if (!c.type) throw py::error_already_set();
        py::handle type(c.type);
        type.attr("status") = int(c.status);
        m.attr(c.name) = type;  // the module keeps the reference for the life of the process
    }
    m.def(
        "status_name", [](int status) { return status_name(static_cast<gdn_status>(status)); }, py::arg("status"),
        "The name of a status code, e.g. 'invalid argument'.");

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Error& e) {
            PyErr_SetString(class_of(e.status()), e.what());
        }
    });
}

}  // namespace gdn::python
