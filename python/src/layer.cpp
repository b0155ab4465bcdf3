// gdn.RadixLinearAttention: one GDN layer, with pymllm's constructor and forward. The weights and
// every input stay in the caller's memory (DLPack views); the output is allocated by the inputs'
// own framework (torch in, torch out; NumPy in, NumPy out) unless the caller passes `out`.
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "batch.hpp"
#include "bindings.hpp"
#include "dlpack.hpp"
#include "gdn/error.hpp"
#include "gdn/layer.hpp"

namespace gdn::python {

namespace {

struct PyLayer {
    ImportedTensor conv_weight, A_log, dt_bias;  // the caller's tensors, kept alive
    std::unique_ptr<RadixLinearAttention> layer;
};

// nn.Conv1d's depthwise weight is [conv_dim, 1, Kc]: the same memory as [conv_dim, Kc].
TensorView squeeze_conv_weight(const TensorView& w) {
    if (w.rank() != 3 || w.size(1) != 1) return w;
    return TensorView(w.data(), w.dtype(), {w.size(0), w.size(2)}, {w.stride(0), w.stride(2)}, w.device());
}

bool is_numpy_array(py::handle obj) {
    static PyObject* ndarray = nullptr;  // kept for the life of the process
    if (!ndarray) {
        PyObject* numpy = loaded_module("numpy");
        if (!numpy) return false;
        ndarray = py::object(py::reinterpret_borrow<py::object>(numpy).attr("ndarray")).release().ptr();
    }
    return PyObject_IsInstance(obj.ptr(), ndarray) == 1;
}

// The last torch output's shape, dtype and device, and a one-element tensor of that dtype and
// device expanded to that shape: torch.empty_like of it allocates the next output with one
// positional argument to parse, where Tensor.new_empty parses a size and options. One entry for
// the process (every layer of a model has the same output shape in a step), guarded by the GIL.
struct TorchOutputTemplate {
    DType dtype = DType::f32;
    const void* plugin = nullptr;  // with `device`: the memory's backend (null: host memory)
    int device = 0;
    int64_t rows = -1, cols = -1;
    py::object tensor;
};

// An uninitialised torch tensor [rows, cols] like the torch tensor `like`, seen through `seen`
// (its import): the same dtype and device, packed.
ImportedTensor new_torch_output(py::handle like, const TensorView& seen, int64_t rows, int64_t cols) {
    static auto* last = new TorchOutputTemplate;  // kept for the life of the process
    static PyObject* empty_like = py::object(py::module_::import("torch").attr("empty_like")).release().ptr();
    static PyObject* s_new_empty = PyUnicode_InternFromString("new_empty");
    static PyObject* s_expand = PyUnicode_InternFromString("expand");
    static PyObject* s_data_ptr = PyUnicode_InternFromString("data_ptr");
    const Backend& device = seen.device();
    const void* plugin = device.valid() ? device.plugin_ptr().get() : nullptr;
    const int index = device.valid() ? device.device() : 0;
    if (last->dtype != seen.dtype() || last->plugin != plugin || last->device != index || last->rows != rows ||
        last->cols != cols || !last->tensor) {
        py::object one = py::reinterpret_steal<py::object>(
            PyObject_CallMethodOneArg(like.ptr(), s_new_empty, py::make_tuple(1).ptr()));
        if (!one) throw py::error_already_set();
        py::object expanded = py::reinterpret_steal<py::object>(
            PyObject_CallMethodOneArg(one.ptr(), s_expand, py::make_tuple(rows, cols).ptr()));
        if (!expanded) throw py::error_already_set();
        *last = TorchOutputTemplate{seen.dtype(), plugin, index, rows, cols, std::move(expanded)};
    }
    // A reference of this call's own: torch releases the GIL inside empty_like, and another thread
    // may replace the template meanwhile.
    const py::object tpl = last->tensor;
    py::object out = py::reinterpret_steal<py::object>(PyObject_CallOneArg(empty_like, tpl.ptr()));
    if (!out) throw py::error_already_set();
    py::object data = py::reinterpret_steal<py::object>(PyObject_CallMethodNoArgs(out.ptr(), s_data_ptr));
    if (!data) throw py::error_already_set();
    void* ptr = reinterpret_cast<void*>(PyLong_AsUnsignedLongLong(data.ptr()));
    if (PyErr_Occurred()) throw py::error_already_set();
    TensorView view(ptr, seen.dtype(), {rows, cols}, device);
    return {std::move(out), std::move(view)};
}

// An uninitialised [T, HV*Dv] output where `like` (mixed_qkv, imported as `seen`) lives, from
// its own framework: the object returned to the caller, and its import.
std::pair<py::object, ImportedTensor> new_output(py::handle like, const TensorView& seen, const PyLayer& L,
                                                 const PyBatch& B) {
    const int64_t rows = B.batch.num_tokens();
    const int64_t cols = int64_t(L.layer->num_v_heads()) * L.layer->head_v_dim();
    if (is_torch_tensor(like)) {
        ImportedTensor t = new_torch_output(like, seen, rows, cols);
        py::object out = t.capsule;  // the tensor itself
        return {std::move(out), std::move(t)};
    }
    py::object out;
    if (is_numpy_array(like)) {
        static py::object* empty = new py::object(py::module_::import("numpy").attr("empty"));
        out = (*empty)(py::make_tuple(rows, cols), py::arg("dtype") = like.attr("dtype"));
    } else {
        auto mem =
            std::make_shared<Tensor>(B.batch.backend(), L.layer->activation_dtype(), std::vector<int64_t>{rows, cols});
        out = export_view(mem->view(), mem);
    }
    ImportedTensor t = import_tensor(out, "out", B.batch.backend());
    return {std::move(out), std::move(t)};
}

}  // namespace

void bind_layer(py::module_& m) {
    py::class_<PyLayer>(m, "RadixLinearAttention",
                        "One Gated DeltaNet layer (pymllm's RadixLinearAttention). It holds the layer's parameters "
                        "(views of the caller's tensors, never copies: keep them unchanged while the layer is used) "
                        "and runs forward on the backend of the batch, reading and writing this layer's state "
                        "(gdn_layer_idx) in the batch's pool.")
        .def(py::init([](int layer_id, int gdn_layer_idx, int num_k_heads, int num_v_heads, int head_k_dim,
                         int head_v_dim, py::handle conv_weight, py::handle A_log, py::handle dt_bias) {
                 auto L = std::make_unique<PyLayer>();
                 L->conv_weight = import_tensor_any(conv_weight, "conv_weight");
                 L->A_log = import_tensor_any(A_log, "A_log");
                 L->dt_bias = import_tensor_any(dt_bias, "dt_bias");
                 L->layer = std::make_unique<RadixLinearAttention>(
                     layer_id, gdn_layer_idx, num_k_heads, num_v_heads, head_k_dim, head_v_dim,
                     squeeze_conv_weight(L->conv_weight.view), L->A_log.view, L->dt_bias.view);
                 return L;
             }),
             py::arg("layer_id"), py::arg("gdn_layer_idx"), py::arg("num_k_heads"), py::arg("num_v_heads"),
             py::arg("head_k_dim"), py::arg("head_v_dim"), py::arg("conv_weight"), py::arg("A_log"), py::arg("dt_bias"),
             "conv_weight: [conv_dim, Kc] (or nn.Conv1d's [conv_dim, 1, Kc]) in the activation dtype, conv_dim = "
             "2*H*Dk + HV*Dv; A_log, dt_bias: [HV] float32, finite. Any DLPack tensors (torch, NumPy) on the "
             "device of the backend the layer will run on.")
        .def(
            "forward",
            [](const PyLayer& L, PyBatch& B, py::handle mixed_qkv, py::handle a, py::handle b, py::object out) {
                const Backend& be = B.batch.backend();
                ImportedTensor x = import_tensor(mixed_qkv, "mixed_qkv", be);
                ImportedTensor ia = import_tensor(a, "a", be);
                ImportedTensor ib = import_tensor(b, "b", be);
                B.follow_framework_stream(mixed_qkv, x.view);
                if (out.is_none() && !B.batch.writes_output()) {  // a commit: the state advances, no output
                    py::gil_scoped_release unlocked;
                    L.layer->forward(B.batch, x.view, ia.view, ib.view, TensorView());
                    return py::object(py::none());
                }
                ImportedTensor io;
                if (out.is_none())
                    std::tie(out, io) = new_output(mixed_qkv, x.view, L, B);
                else
                    io = import_tensor(out, "out", be);
                {
                    py::gil_scoped_release unlocked;
                    L.layer->forward(B.batch, x.view, ia.view, ib.view, io.view);
                }
                return out;
            },
            py::arg("forward_batch"), py::arg("mixed_qkv"), py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
            "mixed_qkv [T, conv_dim] (columns [q | k | v], head-major; a view into a wider projection is taken "
            "as it is), a and b [T, HV], all in the activation dtype on the batch's device. Returns out [T, HV*Dv] "
            "in the inputs' framework (torch in, torch out; NumPy in, NumPy out), or writes into `out` and "
            "returns it. Everything is checked before anything is written: on an error the pool is unchanged. "
            "The GIL is released while the backend runs.")
        .def_property_readonly("layer_id", [](const PyLayer& L) { return L.layer->layer_id(); })
        .def_property_readonly("gdn_layer_idx", [](const PyLayer& L) { return L.layer->gdn_layer_idx(); })
        .def_property_readonly("num_k_heads", [](const PyLayer& L) { return L.layer->num_k_heads(); })
        .def_property_readonly("num_v_heads", [](const PyLayer& L) { return L.layer->num_v_heads(); })
        .def_property_readonly("head_k_dim", [](const PyLayer& L) { return L.layer->head_k_dim(); })
        .def_property_readonly("head_v_dim", [](const PyLayer& L) { return L.layer->head_v_dim(); })
        .def_property_readonly("conv_kernel", [](const PyLayer& L) { return L.layer->conv_kernel(); })
        .def_property_readonly("conv_dim", [](const PyLayer& L) { return L.layer->conv_dim(); })
        .def_property_readonly(
            "dtype", [](const PyLayer& L) { return dtype_name(L.layer->activation_dtype()); },
            "The activation dtype ('f32', 'bf16' or 'f16').")
        .def("__repr__", [](const PyLayer& L) {
            const RadixLinearAttention& l = *L.layer;
            return "gdn.RadixLinearAttention(layer_id=" + std::to_string(l.layer_id()) +
                   ", gdn_layer_idx=" + std::to_string(l.gdn_layer_idx()) + ", H=" + std::to_string(l.num_k_heads()) +
                   ", HV=" + std::to_string(l.num_v_heads()) + ", Dk=" + std::to_string(l.head_k_dim()) +
                   ", Dv=" + std::to_string(l.head_v_dim()) + ", Kc=" + std::to_string(l.conv_kernel()) + ", " +
                   dtype_name(l.activation_dtype()) + ")";
        });
}

}  // namespace gdn::python
