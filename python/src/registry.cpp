// The registry from Python: gdn.backends(), gdn.open(), gdn.load_reports(), and the Backend and
// Stream handles. The process-wide registry (gdn::Registry::global()) is the one the C++ tools use,
// so GDN_PLUGIN_PATH and GDN_BACKEND mean the same here.
#include <cstdint>
#include <memory>
#include <string>

#include "bindings.hpp"
#include "gdn/backend.hpp"
#include "gdn/forward_batch.hpp"
#include "gdn/registry.hpp"

namespace gdn::python {

namespace {

const char* kind_name(int32_t kind) {
    switch (kind) {
        case GDN_DEVICE_CPU: return "cpu";
        case GDN_DEVICE_GPU: return "gpu";
        default: return "other";
    }
}

py::dict range_dict(const gdn_size_range& r) {
    py::dict d;
    d["min"] = r.min;
    d["max"] = r.max;
    d["multiple"] = r.multiple;
    return d;
}

py::list bits(uint32_t mask, int lo, int hi) {
    py::list l;
    for (int i = lo; i <= hi; ++i)
        if (mask & (1u << unsigned(i))) l.append(i);
    return l;
}

}  // namespace

void bind_registry(py::module_& m) {
    py::class_<Backend>(m, "Backend",
                        "One device of one loaded plugin ('cpu', 'cuda', 'cuda:1', ...). Obtained from gdn.open() "
                        "or gdn.backends(); keeps its plugin loaded.")
        .def_property_readonly("name", &Backend::name,
                               "'cpu', 'cuda:1': plugin name, with ':N' for a device N other than 0.")
        .def_property_readonly(
            "plugin", [](const Backend& b) { return b.plugin().name(); }, "The plugin's name.")
        .def_property_readonly(
            "path", [](const Backend& b) { return b.plugin().path(); }, "The plugin's file.")
        .def_property_readonly("device", &Backend::device, "Device index within the plugin.")
        .def_property_readonly(
            "kind", [](const Backend& b) { return kind_name(b.properties().kind); }, "'cpu', 'gpu' or 'other'.")
        .def_property_readonly("device_name", [](const Backend& b) { return std::string(b.properties().name); })
        .def_property_readonly("host_accessible", &Backend::host_accessible,
                               "True when host memory (NumPy arrays, CPU tensors) can be passed directly.")
        .def_property_readonly(
            "native_streams", [](const Backend& b) { return b.table().stream_wrap != nullptr; },
            "True when the backend runs on a caller's native stream (CUDA/HIP, ABI 1.1).")
        .def_property_readonly(
            "properties",
            [](const Backend& b) {
                const gdn_device_properties& p = b.properties();
                py::dict d;
                d["kind"] = kind_name(p.kind);
                d["name"] = std::string(p.name);
                d["memory_bytes"] = p.memory_bytes;
                d["compute_units"] = p.compute_units;
                d["compute_capability"] = py::make_tuple(p.compute_major, p.compute_minor);
                d["warp_size"] = p.warp_size;
                d["host_accessible"] = bool(p.host_accessible);
                return d;
            },
            "The device's properties as the plugin reports them.")
        .def_property_readonly(
            "capabilities",
            [](const Backend& b) {
                const gdn_capabilities& c = b.capabilities();
                py::dict d;
                py::list dtypes;
                for (DType t : {DType::f32, DType::bf16, DType::f16})
                    if (c.activation_dtypes & (1u << unsigned(t))) dtypes.append(dtype_name(t));
                d["activation_dtypes"] = dtypes;
                d["head_k_dim"] = range_dict(c.head_k_dim);
                d["head_v_dim"] = range_dict(c.head_v_dim);
                d["conv_kernels"] = bits(c.conv_kernels, 0, 31);
                d["gva_ratios"] = bits(c.gva_ratios, 1, 31);
                py::list modes;
                for (int mode : {GDN_MODE_EXTEND, GDN_MODE_DECODE, GDN_MODE_MIXED})
                    if (c.modes & (1u << unsigned(mode))) modes.append(mode_name(static_cast<ForwardMode>(mode)));
                d["modes"] = modes;
                d["deterministic"] = bool(c.deterministic);
                return d;
            },
            "What the backend declared it runs (exact: the conformance suite holds it to this).")
        .def("__eq__", [](const Backend& a,
                          const Backend& b) { return a.plugin_ptr() == b.plugin_ptr() && a.device() == b.device(); })
        .def("__hash__",
             [](const Backend& b) { return std::hash<const void*>()(b.plugin_ptr().get()) ^ std::size_t(b.device()); })
        .def("__repr__", [](const Backend& b) {
            return "gdn.Backend('" + b.name() + "', " + std::string(b.properties().name) + ")";
        });

    py::class_<Stream, std::shared_ptr<Stream>>(m, "Stream",
                                                "An execution queue on one backend's device: gdn's own, or a caller's "
                                                "native CUDA/HIP stream that gdn runs on (see Stream.wrap).")
        .def(py::init<const Backend&, int>(), py::arg("backend"), py::arg("num_threads") = 0,
             "A new stream of the backend (CPU: num_threads workers, 0 = all available).")
        .def_static(
            "wrap",
            [](const Backend& b, uintptr_t handle) {
                return std::make_shared<Stream>(b, NativeStream{reinterpret_cast<void*>(handle)});
            },
            py::arg("backend"), py::arg("native_handle"),
            "Wraps a native stream (a cudaStream_t or hipStream_t as an int, e.g. "
            "torch.cuda.current_stream().cuda_stream). gdn's work is queued in order with the caller's "
            "and can be captured in the caller's graphs. The native stream must outlive this object. "
            "Raises gdn.Unsupported on backends without native streams (cpu).")
        .def_property_readonly("backend", &Stream::backend)
        .def_property_readonly("wraps_native", &Stream::wraps_native)
        .def_property_readonly(
            "native_handle", [](const Stream& s) { return reinterpret_cast<uintptr_t>(s.native_handle()); },
            "The runtime's stream behind this one, as an int (gdn.Unsupported on cpu).")
        .def(
            "synchronize",
            [](Stream& s) {
                py::gil_scoped_release unlocked;
                s.synchronize();
            },
            "Waits until everything queued on the stream is done.");

    py::class_<LoadReport>(m, "LoadReport", "How far loading one plugin file got, and why it stopped.")
        .def_readonly("path", &LoadReport::path)
        .def_readonly("name", &LoadReport::name)
        .def_readonly("version", &LoadReport::version)
        .def_readonly("description", &LoadReport::description)
        .def_property_readonly(
            "stage", [](const LoadReport& r) { return load_stage_name(r.stage); },
            "found, opened, entry_found, abi_ok, initialized or devices_probed.")
        .def_readonly("usable", &LoadReport::usable)
        .def_property_readonly("status", [](const LoadReport& r) { return int(r.status); })
        .def_readonly("reason", &LoadReport::reason)
        .def_readonly("priority", &LoadReport::priority)
        .def_readonly("device_count", &LoadReport::device_count)
        .def_property_readonly("abi", [](const LoadReport& r) { return py::make_tuple(r.abi_major, r.abi_minor); })
        .def("__str__", &format_report)
        .def("__repr__", [](const LoadReport& r) {
            return "gdn.LoadReport(" + (r.name.empty() ? r.path : r.name) + ", " + load_stage_name(r.stage) + ")";
        });

    m.def(
        "backends", [] { return Registry::global().available(); },
        "Every device of every usable plugin, highest priority first.");
    m.def(
        "open", [](const std::string& spec) { return Registry::global().open(spec); }, py::arg("spec") = "auto",
        "The backend named by spec: 'cpu', 'cuda', 'cuda:1', a third-party name (case-insensitive), or "
        "'auto' for the best available (GDN_BACKEND when set). A name that cannot run raises the error "
        "carrying its load report; there is never a fallback to another backend.");
    m.def(
        "load_reports", [] { return Registry::global().reports(); },
        "One LoadReport per plugin file found, in search order (GDN_PLUGIN_PATH, then gdn's plugin directory).");
    m.def(
        "load_plugin", [](const std::string& path) { return Registry::global().load_file(path); }, py::arg("path"),
        "Loads one more plugin file and returns its report; when usable, its name becomes selectable with open().");
    m.def(
        "plugin_directory", [] { return Registry::plugin_directory().string(); },
        "gdn's own plugin directory (<libdir>/gdn/plugins, found relative to the gdn library).");
}

}  // namespace gdn::python
