// DLPack in and out (see dlpack.hpp). DLPack 0.6: a "dltensor" capsule holds a DLManagedTensor;
// a consumer that takes ownership renames it "used_dltensor" and calls its deleter when done.
// Imports never take ownership: the capsule stays with its name, and its own destructor hands the
// tensor back to the producer when the last reference goes.
#include "dlpack.hpp"

#include <dlpack/dlpack.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#include "bindings.hpp"
#include "gdn/error.hpp"
#include "gdn/registry.hpp"

namespace gdn::python {

namespace {

const char* kCapsuleName = "dltensor";
const char* kUsedCapsuleName = "used_dltensor";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

std::string device_string(const DLDevice& d) {
    switch (d.device_type) {
        case kDLCPU: return "host memory";
        case kDLCUDA: return "memory on cuda:" + std::to_string(d.device_id);
        case kDLCUDAHost: return "pinned host memory (cuda)";
        case kDLCUDAManaged: return "managed memory on cuda:" + std::to_string(d.device_id);
        case kDLROCM: return "memory on rocm:" + std::to_string(d.device_id);
        case kDLROCMHost: return "pinned host memory (rocm)";
        default: return "memory on DLPack device type " + std::to_string(int(d.device_type));
    }
}

bool host_memory(const DLDevice& d) {
    return d.device_type == kDLCPU || d.device_type == kDLCUDAHost || d.device_type == kDLROCMHost;
}

// The plugin name that runs on a DLPack device type, or nullptr.
const char* plugin_for(DLDeviceType t) {
    switch (t) {
        case kDLCUDA:
        case kDLCUDAManaged: return "cuda";
        case kDLROCM: return "rocm";
        default: return nullptr;
    }
}

DType dtype_of(const DLDataType& t, const char* name) {
    if (t.lanes == 1) {
        if (t.code == kDLFloat && t.bits == 32) return DType::f32;
        if (t.code == kDLFloat && t.bits == 16) return DType::f16;
        if (t.code == kDLBfloat && t.bits == 16) return DType::bf16;
        if (t.code == kDLInt && t.bits == 32) return DType::i32;
        if (t.code == kDLInt && t.bits == 64) return DType::i64;
    }
    invalid_argument(name, "dtype float32, bfloat16, float16, int32 or int64, got DLPack type code " +
                               std::to_string(int(t.code)) + " with " + std::to_string(int(t.bits)) + " bits x " +
                               std::to_string(int(t.lanes)) + " lanes");
}

// torch's exporter, once torch was imported by someone: torch.utils.dlpack.to_dlpack, which
// unlike Tensor.__dlpack__ also exports tensors that require grad (parameters of an nn.Module,
// which the layer only reads); Tensor.__dlpack__ where a torch has no to_dlpack.
struct TorchHooks {
    py::object tensor_type, to_dlpack;
    const char* to_dlpack_name;
    // The metadata route's constants: dtypes by identity, the strided layout, and the plugin that
    // runs on torch's "cuda" devices (a HIP build of torch calls its AMD devices "cuda" too).
    PyObject* dtypes[5];
    DType gdn_dtypes[5];
    py::object strided;
    const char* gpu_plugin;
};
const TorchHooks* torch_hooks() {
    static const TorchHooks* hooks = nullptr;  // kept for the life of the process
    if (hooks) return hooks;
    PyObject* torch = loaded_module("torch");
    if (!torch) return nullptr;
    py::module_ m = py::reinterpret_borrow<py::module_>(torch);
    py::object dlpack_module = py::module_::import("torch.utils.dlpack");
    const bool has_to_dlpack = py::hasattr(dlpack_module, "to_dlpack");
    auto* h = new TorchHooks{
        m.attr("Tensor"),
        has_to_dlpack ? py::object(dlpack_module.attr("to_dlpack")) : py::object(m.attr("Tensor").attr("__dlpack__")),
        has_to_dlpack ? "torch.utils.dlpack.to_dlpack" : "Tensor.__dlpack__",
        {},
        {},
        m.attr("strided"),
        m.attr("version").attr("hip").is_none() ? "cuda" : "rocm"};
    const char* names[5] = {"float32", "bfloat16", "float16", "int32", "int64"};
    const DType types[5] = {DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64};
    for (int i = 0; i < 5; ++i) {
        h->dtypes[i] = py::object(m.attr(names[i])).release().ptr();
        h->gdn_dtypes[i] = types[i];
    }
    hooks = h;
    return hooks;
}

// The metadata route for torch tensors, unless GDN_PYTHON_DLPACK_ONLY=1: a torch tensor read from
// its own metadata (data_ptr, sizes, strides, dtype, device), the description its DLPack export
// gives, without what torch's exporter builds per export (an as_strided view with its autograd
// metadata, and a DLManagedTensor; 0.3 us a tensor, docs/performance.md). False when the tensor
// is anything this route does not describe (another layout or dtype, a negative view, a device
// other than cpu and cuda): DLPack then takes it, or refuses it with its message.
bool torch_metadata_route() {
    static const bool on = [] {
        const char* e = std::getenv("GDN_PYTHON_DLPACK_ONLY");
        return !(e && *e && std::string(e) != "0");
    }();
    return on;
}
bool torch_view(py::handle obj, const char* name, const Backend& backend, const TorchHooks& h, ImportedTensor& out) {
    static PyObject* s_layout = PyUnicode_InternFromString("layout");
    static PyObject* s_dtype = PyUnicode_InternFromString("dtype");
    static PyObject* s_is_cuda = PyUnicode_InternFromString("is_cuda");
    static PyObject* s_is_cpu = PyUnicode_InternFromString("is_cpu");
    static PyObject* s_is_neg = PyUnicode_InternFromString("is_neg");
    static PyObject* s_get_device = PyUnicode_InternFromString("get_device");
    static PyObject* s_shape = PyUnicode_InternFromString("shape");
    static PyObject* s_stride = PyUnicode_InternFromString("stride");
    static PyObject* s_data_ptr = PyUnicode_InternFromString("data_ptr");
    auto attr = [&](PyObject* n) { return py::reinterpret_steal<py::object>(PyObject_GetAttr(obj.ptr(), n)); };
    auto call = [&](PyObject* n) { return py::reinterpret_steal<py::object>(PyObject_CallMethodNoArgs(obj.ptr(), n)); };

    py::object layout = attr(s_layout), dtype = attr(s_dtype), is_cuda = attr(s_is_cuda), neg = call(s_is_neg);
    if (!layout || !dtype || !is_cuda || !neg) {
        PyErr_Clear();
        return false;
    }
    if (!layout.is(h.strided) || neg.ptr() != Py_False) return false;
    int which = -1;
    for (int i = 0; i < 5; ++i)
        if (dtype.ptr() == h.dtypes[i]) which = i;
    if (which < 0) return false;

    Backend device;  // host memory
    if (is_cuda.ptr() == Py_True) {
        const int index = call(s_get_device).cast<int>();
        const bool same =
            backend.valid() && lower(backend.plugin().name()) == h.gpu_plugin && backend.device() == index;
        if (!same)
            invalid_argument(name, "memory on backend " + (backend.valid() ? backend.name() : std::string("?")) +
                                       ", got memory on " + h.gpu_plugin + ":" + std::to_string(index));
        device = backend;
    } else {
        py::object is_cpu = attr(s_is_cpu);
        if (!is_cpu || is_cpu.ptr() != Py_True) {
            PyErr_Clear();
            return false;
        }
    }
    py::object shape_obj = attr(s_shape), stride_obj = call(s_stride), data_obj = call(s_data_ptr);
    if (!shape_obj || !stride_obj || !data_obj) throw py::error_already_set();
    const auto rank = py::len(shape_obj);
    if (rank > GDN_MAX_RANK) return false;
    std::vector<int64_t> shape(rank), strides;
    for (std::size_t d = 0; d < rank; ++d) shape[d] = PyLong_AsLongLong(PyTuple_GET_ITEM(shape_obj.ptr(), d));
    strides = packed_strides(shape);
    for (std::size_t d = 0; d < rank; ++d)  // as in view_of: size-1 dimensions keep the packed stride
        if (shape[d] > 1) strides[d] = PyLong_AsLongLong(PyTuple_GET_ITEM(stride_obj.ptr(), d));
    void* data = reinterpret_cast<void*>(PyLong_AsUnsignedLongLong(data_obj.ptr()));
    if (PyErr_Occurred()) throw py::error_already_set();
    out.capsule = py::reinterpret_borrow<py::object>(obj);  // the tensor itself keeps its memory
    out.view = TensorView(data, h.gdn_dtypes[which], std::move(shape), std::move(strides), std::move(device));
    return true;
}

// A torch tensor's DLPack capsule, from torch's own exporter. A negative view (torch's neg bit:
// the values are the negated memory, e.g. the imaginary part of a conjugate view) is refused:
// torch exports its memory without the negation.
py::object torch_capsule(py::handle obj, const char* name, const TorchHooks& h) {
    static PyObject* s_is_neg = PyUnicode_InternFromString("is_neg");
    if (PyObject* neg = PyObject_CallMethodNoArgs(obj.ptr(), s_is_neg)) {
        const bool negative = neg == Py_True;
        Py_DECREF(neg);
        if (negative)
            invalid_argument(name,
                             "a tensor whose values are its memory, got a negative view (torch's neg bit; "
                             "call .resolve_neg() first)");
    } else {
        PyErr_Clear();  // a torch without neg views
    }
    PyObject* capsule = PyObject_CallOneArg(h.to_dlpack.ptr(), obj.ptr());
    if (!capsule) {
        py::error_already_set e;
        invalid_argument(name, std::string("a tensor that can be exported through DLPack, but ") + h.to_dlpack_name +
                                   " raised: " + e.what());
    }
    return py::reinterpret_steal<py::object>(capsule);
}

py::object capsule_of(py::handle obj, const char* name) {
    if (PyCapsule_CheckExact(obj.ptr())) return py::reinterpret_borrow<py::object>(obj);
    if (const TorchHooks* t = torch_hooks(); t && PyObject_IsInstance(obj.ptr(), t->tensor_type.ptr()) == 1)
        return torch_capsule(obj, name, *t);
    PyObject* method = PyObject_GetAttrString(obj.ptr(), "__dlpack__");
    if (!method) {
        PyErr_Clear();
        invalid_argument(name, std::string("a tensor with __dlpack__ (torch, NumPy, ...), got ") +
                                   std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    try {
        return py::reinterpret_steal<py::object>(method)();
    } catch (py::error_already_set& e) {
        invalid_argument(
            name, std::string("a tensor that can be exported through DLPack, but __dlpack__ raised: ") + e.what());
    }
}

DLManagedTensor* managed_of(const py::object& capsule, const char* name) {
    if (!PyCapsule_IsValid(capsule.ptr(), kCapsuleName))
        invalid_argument(name, "a 'dltensor' capsule from __dlpack__ (one not consumed before)");
    return static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), kCapsuleName));
}

TensorView view_of(const DLTensor& t, const char* name, Backend device) {
    if (t.ndim < 0 || t.ndim > GDN_MAX_RANK)
        invalid_argument(name, "rank 0.." + std::to_string(GDN_MAX_RANK) + ", got " + std::to_string(t.ndim));
    std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
    std::vector<int64_t> strides = packed_strides(shape);
    // The stride of a dimension of size 1 is never used, and producers write anything there
    // (torch writes 1): keep the packed one, so that packed memory is seen as packed.
    if (t.strides)
        for (int d = 0; d < t.ndim; ++d)
            if (shape[std::size_t(d)] > 1) strides[std::size_t(d)] = t.strides[d];
    void* data = t.data ? static_cast<char*>(t.data) + t.byte_offset : nullptr;
    return TensorView(data, dtype_of(t.dtype, name), std::move(shape), std::move(strides), std::move(device));
}

// ---- export ------------------------------------------------------------------------------------

struct ExportContext {
    DLManagedTensor managed{};
    std::vector<int64_t> shape, strides;
    std::shared_ptr<const void> owner;
};

void delete_export(DLManagedTensor* self) { delete static_cast<ExportContext*>(self->manager_ctx); }

// A capsule nobody consumed still owns its tensor.
void capsule_destructor(PyObject* capsule) {
    if (PyCapsule_IsValid(capsule, kUsedCapsuleName)) return;
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsuleName));
    if (!m) {
        PyErr_Clear();
        return;
    }
    if (m->deleter) m->deleter(m);
}

DLDevice dl_device_of(const Backend& device) {
    if (!device.valid() || device.host_accessible()) return {kDLCPU, 0};
    const std::string plugin = lower(device.plugin().name());
    if (plugin == "cuda") return {kDLCUDA, device.device()};
    if (plugin == "rocm") return {kDLROCM, device.device()};
    return {kDLExtDev, device.device()};
}

DLDataType dl_dtype_of(DType t) {
    switch (t) {
        case DType::f32: return {kDLFloat, 32, 1};
        case DType::bf16: return {kDLBfloat, 16, 1};
        case DType::f16: return {kDLFloat, 16, 1};
        case DType::i32: return {kDLInt, 32, 1};
        case DType::i64: return {kDLInt, 64, 1};
    }
    return {kDLFloat, 32, 1};
}

// gdn.TensorView: memory gdn owns, offered through DLPack.
class ExportedView {
public:
    ExportedView(TensorView view, std::shared_ptr<const void> owner)
        : view_(std::move(view)), owner_(std::move(owner)) {}

    py::capsule dlpack(const py::object& /*stream*/) const {
        auto* ctx = new ExportContext;
        ctx->shape = view_.shape();
        ctx->strides = view_.strides();
        ctx->owner = owner_;
        DLTensor& t = ctx->managed.dl_tensor;
        t.data = view_.data();
        t.device = dl_device_of(view_.device());
        t.ndim = view_.rank();
        t.dtype = dl_dtype_of(view_.dtype());
        t.shape = ctx->shape.data();
        t.strides = ctx->strides.data();
        t.byte_offset = 0;
        ctx->managed.manager_ctx = ctx;
        ctx->managed.deleter = delete_export;
        PyObject* capsule = PyCapsule_New(&ctx->managed, kCapsuleName, capsule_destructor);
        if (!capsule) {
            delete ctx;
            throw py::error_already_set();
        }
        return py::reinterpret_steal<py::capsule>(capsule);
    }
    py::tuple dlpack_device() const {
        const DLDevice d = dl_device_of(view_.device());
        return py::make_tuple(int(d.device_type), int(d.device_id));
    }
    const TensorView& view() const { return view_; }

private:
    TensorView view_;
    std::shared_ptr<const void> owner_;
};

}  // namespace

PyObject* loaded_module(const char* name) {
    // sys.modules itself, looked up once: a lookup per call would run the import machinery.
    static PyObject* modules = py::object(py::module_::import("sys").attr("modules")).release().ptr();
    return PyDict_GetItemString(modules, name);  // borrowed; NULL when never imported
}

bool is_torch_tensor(py::handle obj) {
    const TorchHooks* t = torch_hooks();
    return t && PyObject_IsInstance(obj.ptr(), t->tensor_type.ptr()) == 1;
}

ImportedTensor import_tensor(py::handle obj, const char* name, const Backend& backend) {
    py::object capsule;
    if (const TorchHooks* h = torch_hooks(); h && PyObject_IsInstance(obj.ptr(), h->tensor_type.ptr()) == 1) {
        ImportedTensor direct;
        if (torch_metadata_route() && torch_view(obj, name, backend, *h, direct)) return direct;
        capsule = torch_capsule(obj, name, *h);
    } else {
        capsule = capsule_of(obj, name);
    }
    const DLTensor& t = managed_of(capsule, name)->dl_tensor;
    Backend device;  // host memory
    if (!host_memory(t.device)) {
        const char* plugin = plugin_for(t.device.device_type);
        const bool same = backend.valid() && plugin && lower(backend.plugin().name()) == plugin &&
                          backend.device() == t.device.device_id;
        if (!same)
            invalid_argument(name, "memory on backend " + (backend.valid() ? backend.name() : std::string("?")) +
                                       ", got " + device_string(t.device));
        device = backend;
    }
    return {std::move(capsule), view_of(t, name, std::move(device))};
}

ImportedTensor import_tensor_any(py::handle obj, const char* name) {
    py::object capsule = capsule_of(obj, name);
    const DLTensor& t = managed_of(capsule, name)->dl_tensor;
    Backend device;
    if (!host_memory(t.device)) {
        const char* plugin = plugin_for(t.device.device_type);
        if (!plugin) invalid_argument(name, "host, CUDA or ROCm memory, got " + device_string(t.device));
        device = Registry::global().open(std::string(plugin) + ":" + std::to_string(t.device.device_id));
    }
    return {std::move(capsule), view_of(t, name, std::move(device))};
}

py::object export_view(const TensorView& view, std::shared_ptr<const void> owner) {
    return py::cast(ExportedView(view, std::move(owner)));
}

std::vector<double> host_doubles(const ImportedTensor& t, const char* name) {
    const TensorView& v = t.view;
    if (v.device().valid() && !v.device().host_accessible())
        invalid_argument(name, "host memory (the reference runs on the host), got memory on " + v.device().name());
    std::vector<double> out(std::size_t(std::max<int64_t>(v.numel(), 0)));
    std::vector<int64_t> index(std::size_t(v.rank()), 0);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int64_t offset = 0;
        for (int d = 0; d < v.rank(); ++d) offset += index[std::size_t(d)] * v.stride(d);
        out[i] = load_as_double(v.data(), v.dtype(), std::size_t(offset));
        for (int d = v.rank() - 1; d >= 0; --d) {
            if (++index[std::size_t(d)] < v.size(d)) break;
            index[std::size_t(d)] = 0;
        }
    }
    return out;
}

void bind_dlpack(py::module_& m) {
    py::class_<ExportedView>(m, "TensorView",
                             "Memory that gdn owns (a layer's state in a GDNPool, an output gdn allocated), offered "
                             "through DLPack: torch.from_dlpack(v) or numpy.from_dlpack(v) alias it, never copy it. "
                             "Each tensor made from it keeps the memory's owner alive.")
        .def("__dlpack__", &ExportedView::dlpack, py::arg("stream") = py::none(),
             "A DLPack capsule over the memory (the stream argument is accepted and ignored: gdn's work "
             "on it is complete when the call that produced it returned, or is ordered on the stream it ran on).")
        .def("__dlpack_device__", &ExportedView::dlpack_device, "(DLPack device type, device id).")
        .def_property_readonly("shape", [](const ExportedView& v) { return py::tuple(py::cast(v.view().shape())); })
        .def_property_readonly(
            "strides", [](const ExportedView& v) { return py::tuple(py::cast(v.view().strides())); },
            "Strides in elements.")
        .def_property_readonly(
            "dtype", [](const ExportedView& v) { return dtype_name(v.view().dtype()); },
            "'f32', 'bf16', 'f16', 'i32' or 'i64'.")
        .def(
            "data_ptr", [](const ExportedView& v) { return reinterpret_cast<uintptr_t>(v.view().data()); },
            "The address of the first element.")
        .def("__repr__", [](const ExportedView& v) {
            return "gdn.TensorView(shape=" + v.view().shape_string() + ", dtype=" + dtype_name(v.view().dtype()) +
                   ", device=" + (v.view().device().valid() ? v.view().device().name() : std::string("host")) + ")";
        });
}

}  // namespace gdn::python
