// gdn.ForwardBatch: which requests (pool slots) one forward step runs over, how many new tokens
// each has, on which pool and stream. Checked when built, before any layer runs.
#include "batch.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <tuple>

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

// torch calls a device's legacy default stream 0, which stream_wrap refuses as NULL; the CUDA
// runtime's own name for that stream is cudaStreamLegacy, ((cudaStream_t)0x1).
constexpr uintptr_t kCudaStreamLegacy = 0x1;

// The gdn Stream over a framework's native stream: one per (backend device, native stream) for
// the life of the process. A wrapped stream owns what the plugin allocated for it (group counters,
// prefill scratch), which the plugin cannot allocate while the stream captures a graph: keeping it
// lets a stream used once before a capture be captured on, whatever ran in between. torch's
// streams come from per-device pools and are never destroyed, so the handles stay valid; these
// Streams are never destroyed either (at exit the runtime may be gone before static destructors).
const std::shared_ptr<Stream>& framework_stream_for(const Backend& be, void* handle, py::handle torch_cuda) {
    using Key = std::tuple<const void*, int, void*>;
    static auto* streams = new std::map<Key, std::shared_ptr<Stream>>;  // guarded by the GIL
    const Key key{be.plugin_ptr().get(), be.device(), handle};
    if (auto it = streams->find(key); it != streams->end()) return it->second;
    if (torch_cuda.attr("is_current_stream_capturing")().cast<bool>())
        throw Error(GDN_ERR_UNSUPPORTED,
                    "stream: torch's current stream is capturing a graph and gdn has not run on it before; run one "
                    "step on that stream before the capture (under torch.cuda.stream(s), then torch.cuda.graph(g, "
                    "stream=s)) or give the batch a gdn.Stream");
    return streams->emplace(key, std::make_shared<Stream>(be, NativeStream{handle})).first->second;
}

}  // namespace

void PyBatch::follow_framework_stream(py::handle like, const TensorView& seen) {
    if (stream || !batch.backend().table().stream_wrap || !seen.device().valid() || !is_torch_tensor(like)) return;
    // The current stream's handle as an int: torch._C._cuda_getCurrentRawStream(index) where torch
    // has it (no torch.cuda.Stream object made per call), else torch.cuda.current_stream(index).
    static py::object* torch_cuda = new py::object(py::module_::import("torch").attr("cuda"));
    static py::object* raw_stream = [] {
        py::object c = py::module_::import("torch").attr("_C");
        return new py::object(py::hasattr(c, "_cuda_getCurrentRawStream") ? c.attr("_cuda_getCurrentRawStream")
                                                                          : py::object(py::none()));
    }();
    static py::object* current_stream = new py::object(torch_cuda->attr("current_stream"));
    const int index = seen.device().device();
    auto native = raw_stream->is_none() ? (*current_stream)(index).attr("cuda_stream").cast<uintptr_t>()
                                        : (*raw_stream)(index).cast<uintptr_t>();
    if (native == 0 && batch.backend().plugin().name() == "cuda") native = kCudaStreamLegacy;
    void* handle = reinterpret_cast<void*>(native);
    if (handle == framework_handle && framework_stream) return;
    const std::shared_ptr<Stream>& wrapped = framework_stream_for(batch.backend(), handle, *torch_cuda);
    batch.set_stream(wrapped.get());
    framework_stream = wrapped;
    framework_handle = handle;
}

void bind_batch(py::module_& m) {
    m.attr("NO_STATE_WRITE") = kNoStateWrite;
    m.attr("MAX_DRAFT_TOKENS") = kMaxDraftTokens;
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
             py::arg("forward_mode"), py::arg("pool"), py::arg("req_pool_indices"),
             py::arg("extend_seq_lens") = py::none(),
             "forward_mode: gdn.ForwardMode, 'extend'/'decode'/'mixed' or an enum member of that name; "
             "req_pool_indices and extend_seq_lens: sequences of ints or integer tensors.")
        .def_static(
            "extend",
            [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle lens) {
                return make_batch(ForwardMode::extend, pool, slots, lens);
            },
            py::arg("pool"), py::arg("req_pool_indices"), py::arg("extend_seq_lens"), "Packed prefill; lengths >= 0.")
        .def_static(
            "decode",
            [](const std::shared_ptr<GDNPool>& pool, py::handle slots) {
                return make_batch(ForwardMode::decode, pool, slots, py::none());
            },
            py::arg("pool"), py::arg("req_pool_indices"), "One token per request.")
        .def_static(
            "mixed",
            [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle lens) {
                return make_batch(ForwardMode::mixed, pool, slots, lens);
            },
            py::arg("pool"), py::arg("req_pool_indices"), py::arg("extend_seq_lens"),
            "Some requests extend, some decode: every request has its own length >= 0.")
        .def_static(
            "from_cu_seqlens",
            [](py::handle mode, const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle cu_seqlens) {
                if (!pool) invalid_argument("pool", "a GDNPool, got None");
                std::vector<int64_t> s = int_list(slots, "req_pool_indices");
                std::vector<int64_t> cu = int_list(cu_seqlens, "cu_seqlens");
                const ForwardMode fm = parse_mode(mode);
                py::gil_scoped_release unlocked;
                return std::make_unique<PyBatch>(pool, ForwardBatch::from_cu_seqlens(fm, *pool, std::move(s), cu));
            },
            py::arg("forward_mode"), py::arg("pool"), py::arg("req_pool_indices"), py::arg("cu_seqlens"),
            "From cumulative lengths [B + 1] instead of lengths.")
        .def_static(
            "verify",
            [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle draft_lens) {
                if (!pool) invalid_argument("pool", "a GDNPool, got None");
                std::vector<int64_t> s = int_list(slots, "req_pool_indices");
                std::vector<int64_t> l = int_list(draft_lens, "draft_lens");
                py::gil_scoped_release unlocked;
                return std::make_unique<PyBatch>(pool, ForwardBatch::verify(*pool, std::move(s), std::move(l)));
            },
            py::arg("pool"), py::arg("req_pool_indices"), py::arg("draft_lens"),
            "Speculative decoding, step 1: every draft token (1..16 per request) runs and has an output; no "
            "state is written (ABI 1.2).")
        .def_static(
            "commit",
            [](const std::shared_ptr<GDNPool>& pool, py::handle slots, py::handle draft_lens, py::handle accepted) {
                if (!pool) invalid_argument("pool", "a GDNPool, got None");
                std::vector<int64_t> s = int_list(slots, "req_pool_indices");
                std::vector<int64_t> l = int_list(draft_lens, "draft_lens");
                std::vector<int64_t> acc = int_list(accepted, "accepted");
                py::gil_scoped_release unlocked;
                return std::make_unique<PyBatch>(
                    pool, ForwardBatch::commit(*pool, std::move(s), std::move(l), std::move(acc)));
            },
            py::arg("pool"), py::arg("req_pool_indices"), py::arg("draft_lens"), py::arg("accepted"),
            "Step 2, with verify's inputs: each request's state advances by its first accepted[r] drafts (0 "
            "keeps it); no output (forward returns None).")
        .def(
            "set_write_slots",
            [](PyBatch& b, py::handle write_slots) {
                std::vector<int64_t> w = int_list(write_slots, "write_slots");
                py::gil_scoped_release unlocked;
                b.batch.set_write_slots(std::move(w));
            },
            py::arg("write_slots"),
            "Request r reads its state from req_pool_indices[r] and writes it to write_slots[r] "
            "(gdn.NO_STATE_WRITE: nowhere), e.g. to fork a cached prefix without a copy (ABI 1.2).")
        .def(
            "set_checkpoints",
            [](PyBatch& b, py::handle per_request) {
                std::vector<std::vector<Checkpoint>> cps;
                std::size_t r = 0;
                for (py::handle request : per_request) {
                    cps.emplace_back();
                    std::size_t i = 0;
                    for (py::handle item : request) {
                        const std::vector<int64_t> pair = int_list(
                            item, ("checkpoints[" + std::to_string(r) + "][" + std::to_string(i) + "]").c_str());
                        if (pair.size() != 2)
                            invalid_argument("checkpoints[" + std::to_string(r) + "][" + std::to_string(i) + "]",
                                             "a pair (tokens, slot), got " + std::to_string(pair.size()) + " values");
                        cps.back().push_back(Checkpoint{pair[0], pair[1]});
                        ++i;
                    }
                    ++r;
                }
                py::gil_scoped_release unlocked;
                b.batch.set_checkpoints(cps);
            },
            py::arg("checkpoints"),
            "Per request, a list of (tokens, slot): the state after the request's first `tokens` tokens is "
            "also written to `slot` (prefix caching at page boundaries; ABI 1.2).")
        .def_property_readonly("write_slots", [](const PyBatch& b) { return b.batch.write_slots(); })
        .def_property_readonly("accepted", [](const PyBatch& b) { return b.batch.accepted(); })
        .def_property_readonly(
            "writes_output", [](const PyBatch& b) { return b.batch.writes_output(); }, "False for a commit batch.")
        .def_property_readonly("num_checkpoints", [](const PyBatch& b) { return b.batch.num_checkpoints(); })
        .def_property_readonly("forward_mode", [](const PyBatch& b) { return b.batch.mode(); })
        .def_property_readonly("pool", [](const PyBatch& b) { return b.pool; })
        .def_property_readonly("backend", [](const PyBatch& b) { return b.batch.backend(); })
        .def_property_readonly("num_requests", [](const PyBatch& b) { return b.batch.num_requests(); })
        .def_property_readonly("num_tokens", [](const PyBatch& b) { return b.batch.num_tokens(); })
        .def_property_readonly("req_pool_indices", [](const PyBatch& b) { return b.batch.req_pool_indices(); })
        .def_property_readonly("cu_seqlens", [](const PyBatch& b) { return b.batch.cu_seqlens(); })
        .def_property(
            "stream", [](const PyBatch& b) { return b.stream; }, &set_stream,
            "The gdn.Stream the layers run on. None (the default): on a backend with native streams "
            "and torch tensors on its device, torch.cuda.current_stream() (so a step can be captured "
            "in torch.cuda.graph); otherwise the backend's default stream.")
        .def(
            "update_slots",
            [](PyBatch& b, py::handle slots) {
                std::vector<int64_t> s = int_list(slots, "req_pool_indices");
                py::gil_scoped_release unlocked;
                b.batch.update_slots(s);
            },
            py::arg("req_pool_indices"),
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
