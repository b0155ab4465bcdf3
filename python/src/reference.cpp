// The fp64 reference (gdn.reference_forward), golden files (gdn.load_golden) and the harness's
// check of a golden file through a backend (gdn.check): the same oracle and the same checks as
// the C++ tests and `gdn check`.
#include <filesystem>
#include <string>
#include <vector>

#include <pybind11/numpy.h>

#include "bindings.hpp"
#include "convert.hpp"
#include "dlpack.hpp"
#include "gdn/error.hpp"
#include "gdn/harness.hpp"
#include "gdn/reference.hpp"
#include "gdn/registry.hpp"

namespace gdn::python {

namespace {

py::array_t<double> array(const std::vector<double>& v, std::vector<int64_t> shape) {
    py::array_t<double> a(std::vector<py::ssize_t>(shape.begin(), shape.end()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

// Host values of an argument with `count` elements.
std::vector<double> values(py::handle obj, const char* name, int64_t count) {
    ImportedTensor t = import_tensor(obj, name, Backend{});
    std::vector<double> v = host_doubles(t, name);
    if (int64_t(v.size()) != count)
        invalid_argument(name, std::to_string(count) + " elements, got " + std::to_string(v.size()) + " (shape " +
                                   t.view.shape_string() + ")");
    return v;
}

std::vector<double> values_or_zero(py::handle obj, const char* name, int64_t count) {
    return obj.is_none() ? std::vector<double>(std::size_t(count), 0.0) : values(obj, name, count);
}

Backend backend_of(py::handle obj) {
    if (py::isinstance<Backend>(obj)) return obj.cast<Backend>();
    return Registry::global().open(obj.cast<std::string>());
}

}  // namespace

void bind_reference(py::module_& m) {
    m.def(
        "reference_forward",
        [](int num_k_heads, int num_v_heads, int head_k_dim, int head_v_dim, py::handle mixed_qkv, py::handle a,
           py::handle b, py::handle conv_weight, py::handle A_log, py::handle dt_bias, py::handle cu_seqlens,
           py::handle conv_state, py::handle recurrent_state) {
            reference::Problem p;
            p.num_k_heads = num_k_heads;
            p.num_v_heads = num_v_heads;
            p.head_k_dim = head_k_dim;
            p.head_v_dim = head_v_dim;
            if (num_k_heads < 1 || num_v_heads < 1 || num_v_heads % num_k_heads || head_k_dim < 1 || head_v_dim < 1)
                invalid_argument("num_k_heads, num_v_heads, head_k_dim, head_v_dim",
                                 "positive, num_v_heads a multiple of num_k_heads");
            ImportedTensor w = import_tensor(conv_weight, "conv_weight", Backend{});
            if (w.view.rank() < 2 || w.view.size(w.view.rank() - 1) < 2)
                invalid_argument("conv_weight", "shape [conv_dim, Kc] with Kc >= 2, got " + w.view.shape_string());
            p.conv_kernel = int(w.view.size(w.view.rank() - 1));
            const int64_t C = p.conv_dim(), HV = num_v_heads, Kc = p.conv_kernel;
            p.conv_weight = host_doubles(w, "conv_weight");
            if (int64_t(p.conv_weight.size()) != C * Kc)
                invalid_argument("conv_weight", "conv_dim x Kc = " + std::to_string(C * Kc) + " elements, got shape " +
                                                    w.view.shape_string());
            p.cu_seqlens = int_list(cu_seqlens, "cu_seqlens");
            if (p.cu_seqlens.empty() || p.cu_seqlens.front() != 0)
                invalid_argument("cu_seqlens", "[B + 1] cumulative lengths starting at 0");
            for (std::size_t r = 1; r < p.cu_seqlens.size(); ++r)
                if (p.cu_seqlens[r] < p.cu_seqlens[r - 1]) invalid_argument("cu_seqlens", "non-decreasing");
            const int64_t T = p.num_tokens(), B = p.num_requests();
            p.mixed_qkv = values(mixed_qkv, "mixed_qkv", T * C);
            p.a = values(a, "a", T * HV);
            p.b = values(b, "b", T * HV);
            p.A_log = values(A_log, "A_log", HV);
            p.dt_bias = values(dt_bias, "dt_bias", HV);
            p.conv_state = values_or_zero(conv_state, "conv_state", B * C * (Kc - 1));
            p.recurrent_state =
                values_or_zero(recurrent_state, "recurrent_state", B * HV * head_v_dim * int64_t(head_k_dim));
            std::vector<double> out;
            {
                py::gil_scoped_release unlocked;
                out = reference::forward(p);
            }
            return py::make_tuple(array(out, {T, HV * head_v_dim}), array(p.conv_state, {B, C, Kc - 1}),
                                  array(p.recurrent_state, {B, HV, int64_t(head_v_dim), int64_t(head_k_dim)}));
        },
        py::arg("num_k_heads"), py::arg("num_v_heads"), py::arg("head_k_dim"), py::arg("head_v_dim"),
        py::arg("mixed_qkv"), py::arg("a"), py::arg("b"), py::arg("conv_weight"), py::arg("A_log"), py::arg("dt_bias"),
        py::arg("cu_seqlens"), py::arg("conv_state") = py::none(), py::arg("recurrent_state") = py::none(),
        "The fp64 reference of the layer (the exact function of the golden README, token by token in double) "
        "over host tensors of any dtype: mixed_qkv [T, conv_dim], a and b [T, HV], conv_weight [conv_dim, Kc], "
        "A_log and dt_bias [HV], cu_seqlens [B + 1], conv_state [B, conv_dim, Kc - 1] and recurrent_state "
        "[B, HV, Dv, Dk] before (zero when None). Returns (out, conv_state, recurrent_state) after, as "
        "float64 NumPy arrays.");

    m.def(
        "load_golden",
        [](const std::string& file) {
            const Case c = load_golden(file);
            const reference::Problem& p = c.problem;
            const int64_t T = p.num_tokens(), B = p.num_requests(), C = p.conv_dim(), HV = p.num_v_heads;
            const int64_t Kc = p.conv_kernel, Dk = p.head_k_dim, Dv = p.head_v_dim;
            py::dict d;
            d["name"] = c.name;
            d["description"] = describe(c);
            d["dtype"] = dtype_name(c.activation_dtype);
            d["forward_mode"] = c.mode;
            d["num_k_heads"] = p.num_k_heads;
            d["num_v_heads"] = p.num_v_heads;
            d["head_k_dim"] = p.head_k_dim;
            d["head_v_dim"] = p.head_v_dim;
            d["conv_kernel"] = p.conv_kernel;
            d["cu_seqlens"] = p.cu_seqlens;
            d["mixed_qkv"] = array(p.mixed_qkv, {T, C});
            d["a"] = array(p.a, {T, HV});
            d["b"] = array(p.b, {T, HV});
            d["conv_weight"] = array(p.conv_weight, {C, Kc});
            d["A_log"] = array(p.A_log, {HV});
            d["dt_bias"] = array(p.dt_bias, {HV});
            d["conv_state"] = array(p.conv_state, {B, C, Kc - 1});
            d["recurrent_state"] = array(p.recurrent_state, {B, HV, Dv, Dk});
            if (c.expected) {
                d["expected_out"] = array(c.expected->out, {T, HV * Dv});
                d["expected_conv_state"] = array(c.expected->conv_state, {B, C, Kc - 1});
                d["expected_recurrent_state"] = array(c.expected->recurrent_state, {B, HV, Dv, Dk});
            }
            const Tolerance tol = default_tolerance(c.activation_dtype);
            d["tolerance"] = py::dict(py::arg("out") = tol.out, py::arg("state") = tol.state,
                                      py::arg("conv_exact") = tol.conv_exact);
            return d;
        },
        py::arg("file"),
        "A golden-vector file as a dict: dims, dtype, forward_mode, cu_seqlens, the inputs and states before "
        "(float64 arrays, values exactly representable in dtype), expected_out / expected_conv_state / "
        "expected_recurrent_state, and the golden README's tolerance.");

    py::class_<CaseResult>(m, "CheckResult", "The outcome of gdn.check on one golden file.")
        .def_readonly("passed", &CaseResult::passed)
        .def_readonly("message", &CaseResult::message, "Why it failed (empty when it passed).")
        .def_readonly("out_rel_l2", &CaseResult::out_rel_l2)
        .def_readonly("state_rel_l2", &CaseResult::state_rel_l2)
        .def_readonly("out_max_abs", &CaseResult::out_max_abs)
        .def_readonly("conv_exact", &CaseResult::conv_exact)
        .def_readonly("finite", &CaseResult::finite)
        .def_readonly("others_untouched", &CaseResult::others_untouched)
        .def("__bool__", [](const CaseResult& r) { return r.passed; })
        .def("__repr__", [](const CaseResult& r) {
            return std::string("gdn.CheckResult(") + (r.passed ? "PASS" : "FAIL: " + r.message) +
                   ", out_rel_l2=" + std::to_string(r.out_rel_l2) + ", state_rel_l2=" + std::to_string(r.state_rel_l2) +
                   ")";
        });

    m.def(
        "check",
        [](const std::string& file, py::handle backend) {
            const Backend be = backend_of(backend);
            py::gil_scoped_release unlocked;
            const Case c = load_golden(file);
            return run_case(be, c, default_tolerance(c.activation_dtype));
        },
        py::arg("file"), py::arg("backend") = "auto",
        "Runs a golden-vector file through a backend (name or gdn.Backend) as `gdn check` does: states in "
        "scattered slots of a pool, tolerances of the golden README, every other slot and layer unchanged. "
        "Returns a CheckResult; raises gdn.Error when the file cannot be read or the backend does not support it.");
}

}  // namespace gdn::python
