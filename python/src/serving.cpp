// The serving features of the C++ API: a pool over an engine's own state memory
// (GDNPool.over_memory) and a slot's states as a transfer blob (export_slot, import_slot,
// read_slot_blob) for moving a request between pools or processes. docs/serving.md explains both.
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "convert.hpp"
#include "dlpack.hpp"
#include "gdn/error.hpp"
#include "gdn/pool.hpp"
#include "gdn/slot_transfer.hpp"

namespace gdn::python {

namespace {

std::size_t byte_size(const TensorView& v) {
    return std::size_t(std::max<int64_t>(v.numel(), 0)) * dtype_size(v.dtype());
}

// A pool over `recurrent` and `conv` (any DLPack tensors in the pool's layout, packed): the pool
// keeps their capsules, so the engine's tensors live while the pool does. The capsules are
// released with the GIL, wherever the pool's last owner lets go of it.
std::shared_ptr<GDNPool> over_memory(const Backend& backend, const PoolConfig& pc, py::handle recurrent,
                                     py::handle conv) {
    auto rec = std::make_shared<ImportedTensor>(import_tensor(recurrent, "recurrent", backend));
    auto cnv = std::make_shared<ImportedTensor>(import_tensor(conv, "conv", backend));
    for (const ImportedTensor* t : {rec.get(), cnv.get()})
        if (!t->view.is_packed())
            invalid_argument(t == rec.get() ? "recurrent" : "conv",
                             "packed strides, got " + shape_to_string(t->view.strides()));
    EngineMemory mem;
    mem.device = rec->view.device();
    mem.recurrent = rec->view.data();
    mem.recurrent_bytes = byte_size(rec->view);
    mem.conv = cnv->view.data();
    mem.conv_bytes = byte_size(cnv->view);
    GDNPool* pool = nullptr;
    {
        py::gil_scoped_release unlocked;
        pool = new GDNPool(backend, pc, mem);
    }
    return std::shared_ptr<GDNPool>(pool, [rec, cnv](GDNPool* p) mutable {
        delete p;
        py::gil_scoped_acquire locked;
        rec.reset();
        cnv.reset();
    });
}

py::dict info_dict(const SlotBlobInfo& i) {
    py::dict d;
    d["version"] = i.version;
    d["layout"] = i.layout;
    d["num_layers"] = i.num_layers;
    d["num_k_heads"] = i.num_k_heads;
    d["num_v_heads"] = i.num_v_heads;
    d["head_k_dim"] = i.head_k_dim;
    d["head_v_dim"] = i.head_v_dim;
    d["conv_kernel"] = i.conv_kernel;
    d["dtype"] = dtype_name(i.activation_dtype);
    d["state_dtype"] = dtype_name(i.state_dtype);
    d["recurrent_bytes_per_layer"] = i.recurrent_bytes_per_layer;
    d["conv_bytes_per_layer"] = i.conv_bytes_per_layer;
    d["payload_bytes"] = i.payload_bytes;
    return d;
}

}  // namespace

void bind_serving(py::module_& m) {
    // GDNPool.over_memory, added to the class bind_pool made.
    py::object pool_class = m.attr("GDNPool");
    pool_class.attr("over_memory") = py::staticmethod(py::cpp_function(
        [](const Backend& backend, int num_layers, int64_t num_slots, int num_k_heads, int num_v_heads, int head_k_dim,
           int head_v_dim, int conv_kernel, py::handle dtype, py::handle recurrent, py::handle conv,
           bool engine_managed_slots) {
            PoolConfig pc{num_layers, num_slots,  num_k_heads, num_v_heads,
                          head_k_dim, head_v_dim, conv_kernel, parse_dtype(dtype, "dtype")};
            pc.engine_managed_slots = engine_managed_slots;
            return over_memory(backend, pc, recurrent, conv);
        },
        py::name("over_memory"), py::scope(pool_class), py::arg("backend"), py::arg("num_layers"), py::arg("num_slots"),
        py::arg("num_k_heads"), py::arg("num_v_heads"), py::arg("head_k_dim"), py::arg("head_v_dim"),
        py::arg("conv_kernel"), py::arg("dtype"), py::arg("recurrent"), py::arg("conv"),
        py::arg("engine_managed_slots") = false,
        "A pool over an engine's own state tensors, in place: recurrent f32 [layers, slots + 1, HV, Dv, Dk] "
        "and conv [layers, slots + 1, conv_dim, Kc - 1] in the activation dtype, packed, 256-byte aligned, "
        "on the backend's device (torch tensors, NumPy arrays, ...). Their contents are kept; every slot "
        "starts free (a batch may name only slots from alloc_slot, unless engine_managed_slots is True). "
        "The pool keeps the tensors alive."));

    m.def(
        "export_slot",
        [](const GDNPool& p, int64_t slot) {
            std::vector<uint8_t> blob;
            {
                py::gil_scoped_release unlocked;
                blob = export_slot(p, slot);
            }
            return py::bytes(reinterpret_cast<const char*>(blob.data()), blob.size());
        },
        py::arg("pool"), py::arg("slot"),
        "Both states of `slot` in every layer as a versioned, checksummed blob (bytes), to move a request "
        "to another pool or process.");
    m.def(
        "import_slot",
        [](GDNPool& p, int64_t slot, const py::bytes& blob) {
            const std::string data = blob;
            py::gil_scoped_release unlocked;
            import_slot(p, slot, reinterpret_cast<const uint8_t*>(data.data()), data.size());
        },
        py::arg("pool"), py::arg("slot"), py::arg("blob"),
        "Writes a blob from export_slot into `slot` of every layer, after checking it against the pool "
        "(gdn.InvalidArgument naming the problem; nothing written then).");
    m.def(
        "read_slot_blob",
        [](const py::bytes& blob) {
            const std::string data = blob;
            return info_dict(read_slot_blob(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
        },
        py::arg("blob"), "The header of a blob (dims, dtypes, sizes) after the checks that need no pool.");
}

}  // namespace gdn::python
