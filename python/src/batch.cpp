// gdn.ForwardBatch: which requests (pool slots) one forward step runs over, how many new tokens
// each has, on which pool and stream. Checked when built, before any layer runs.
#include "batch.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "bindings.hpp"
#include "convert.hpp"
#include "dlpack.hpp"
#include "gdn/error.hpp"

namespace gdn::python {

namespace {

// gdn.ForwardMode, 'extend' / 'decode' / 'mixed', or an engine's enum member with such a name
// (pymllm's ForwardMode.EXTEND).
ForwardMode parse_mode(py::handle obj) {
    if (py::isinstance<ForwardMode>(obj)) return obj.cast<ForwardMode>();
    std::string text = py::isinstance<py::str>(obj) ? obj.cast<std::string>()
                       : py::hasattr(obj, "name")   ? std::string(py::str(obj.attr("name")))
                                                    : std::string(py::str(obj));
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (text == "extend" || text == "prefill") return ForwardMode::extend;
    if (text == "decode") return ForwardMode::decode;
    if (text == "mixed") return ForwardMode::mixed;
    invalid_argument("forward_mode", "extend, decode or mixed, got '" + text + "'");
}

std::unique_ptr<PyBatch> make_batch(ForwardMode mode, const std::shared_ptr<GDNPool>& pool, py::handle slots,
                                    py::handle lens) {
    if (!pool) invalid_argument("pool", "a GDNPool, got None");
    std::vector<int64_t> s = int_list(slots, "req_pool_indices");
    std::vector<int64_t> l = lens.is_none() ? std::vector<int64_t>{} : int_list(lens, "extend_seq_lens");
    py::gil_scoped_release unlocked;
    return std::make_unique<PyBatch>(pool, ForwardBatch(mode, *pool, std::move(s), std::move(l)));
}

void set_stream(PyBatch& b, std::shared_ptr<Stream> s) {
    b.batch.set_stream(s.get());
    b.stream = std::move(s);
    if (b.stream) {
        b.framework_stream.reset();
        b.framework_handle = nullptr;
    }
}

}  // namespace

void PyBatch::follow_framework_stream(py::handle like) {
    if (stream || !batch.backend().table().stream_wrap || !is_torch_tensor(like)) return;
    py::object device = like.attr("device");
    if (std::string(py::str(device.attr("type"))) != "cuda") return;
    static py::object* current_stream =
        new py::object(py::module_::import("torch").attr("cuda").attr("current_stream"));
    void* handle = reinterpret_cast<void*>((*current_stream)(device).attr("cuda_stream").cast<uintptr_t>());
    if (handle == framework_handle && framework_stream) return;
    auto wrapped = std::make_unique<Stream>(batch.backend(), NativeStream{handle});
    batch.set_stream(wrapped.get());
    framework_stream = std::move(wrapped);
    framework_handle = handle;
}

void bind_batch(py::module_& m) {
    py::enum_<ForwardMode>(m, "ForwardMode", "extend (packed prefill), decode (one token per request), mixed (both).")
        .value("EXTEND", ForwardMode::extend)
        .value("DECODE", ForwardMode::decode)
        .value("MIXED", ForwardMode::mixed);

    py::class_<PyBatch>(m, "ForwardBatch",
                        "One forward step's requests: req_pool_indices[r] is request r's slot in the pool (the pool's "
                        "padding slot marks a padded row), extend_seq_lens[r] its number of new tokens (decode: 1 "
                        "each). Everything is checked here, before any layer runs. Not for use by two threads at "
                        "once; give each thread its own batch.")
        .def(py::init([](py::handle mode, const std::shared_ptr<GDNPool>& pool, py::handle req_pool_indices,
                         py::handle extend_seq_lens) {
                 return make_batch(parse_mode(mode), pool, req_pool_indices, extend_seq_lens);
             }),
             py::arg("forward_mode"), py::arg("pool"), py::arg("req_pool_indices"), py::arg("extend_seq_lens") = py::none(),
             "forward_mode: gdn.ForwardMode, 'extend'/'decode'/'mixed' or an enum member of that name; "
             "req_pool_indices and extend_seq_lens: sequences of ints or integer tensors.")
        .def_static("extend", [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle lens) {
            return make_batch(ForwardMode::extend, pool, slots, lens);
        }, py::arg("pool"), py::arg("req_pool_indices"), py::arg("extend_seq_lens"), "Packed prefill; lengths >= 0.")
        .def_static("decode", [](const std::shared_ptr<GDNPool>& pool, py::handle slots) {
            return make_batch(ForwardMode::decode, pool, slots, py::none());
        }, py::arg("pool"), py::arg("req_pool_indices"), "One token per request.")
        .def_static("mixed", [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle lens) {
            return make_batch(ForwardMode::mixed, pool, slots, lens);
        }, py::arg("pool"), py::arg("req_pool_indices"), py::arg("extend_seq_lens"),
            "Some requests extend, some decode: every request has its own length >= 0.")
        .def_static("from_cu_seqlens", [](py::handle mode, const std::shared_ptr<GDNPool>& pool, py::handle slots,
                                          py::handle cu_seqlens) {
            if (!pool) invalid_argument("pool", "a GDNPool, got None");
            std::vector<int64_t> s = int_list(slots, "req_pool_indices");
            std::vector<int64_t> cu = int_list(cu_seqlens, "cu_seqlens");
            const ForwardMode fm = parse_mode(mode);
            py::gil_scoped_release unlocked;
            return std::make_unique<PyBatch>(pool, ForwardBatch::from_cu_seqlens(fm, *pool, std::move(s), cu));
        }, py::arg("forward_mode"), py::arg("pool"), py::arg("req_pool_indices"), py::arg("cu_seqlens"),
            "From cumulative lengths [B + 1] instead of lengths.")
        .def_property_readonly("forward_mode", [](const PyBatch& b) { return b.batch.mode(); })
        .def_property_readonly("pool", [](const PyBatch& b) { return b.pool; })
        .def_property_readonly("backend", [](const PyBatch& b) { return b.batch.backend(); })
        .def_property_readonly("num_requests", [](const PyBatch& b) { return b.batch.num_requests(); })
        .def_property_readonly("num_tokens", [](const PyBatch& b) { return b.batch.num_tokens(); })
        .def_property_readonly("req_pool_indices", [](const PyBatch& b) { return b.batch.req_pool_indices(); })
        .def_property_readonly("cu_seqlens", [](const PyBatch& b) { return b.batch.cu_seqlens(); })
        .def_property("stream", [](const PyBatch& b) { return b.stream; }, &set_stream,
                      "The gdn.Stream the layers run on. None (the default): on a backend with native streams "
                      "and torch tensors on its device, torch.cuda.current_stream() (so a step can be captured "
                      "in torch.cuda.graph); otherwise the backend's default stream.")
        .def("update_slots", [](PyBatch& b, py::handle slots) {
            std::vector<int64_t> s = int_list(slots, "req_pool_indices");
            py::gil_scoped_release unlocked;
            b.batch.update_slots(s);
        }, py::arg("req_pool_indices"),
            "Replaces the slots of the same number of requests in place (a captured decode graph then replays "
            "over the new slots). Checked like the constructor.")
        .def("__repr__", [](const PyBatch& b) {
            std::string s = std::string("gdn.ForwardBatch(") + mode_name(b.batch.mode()) + ", slots=[";
            for (std::size_t i = 0; i < b.batch.req_pool_indices().size(); ++i)
                s += (i ? ", " : "") + std::to_string(b.batch.req_pool_indices()[i]);
            return s + "], tokens=" + std::to_string(b.batch.num_tokens()) + ")";
        });
}

}  // namespace gdn::python
