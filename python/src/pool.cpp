// gdn.GDNPool: every GDN layer's recurrent and conv state for every request slot, on one backend.
// Held through a shared_ptr, so that the state views it hands out (and the batches over it) keep
// it alive however Python orders its destruction.
#include <memory>
#include <string>

#include "bindings.hpp"
#include "convert.hpp"
#include "dlpack.hpp"
#include "gdn/pool.hpp"

namespace gdn::python {

void bind_pool(py::module_& m) {
    py::class_<PoolConfig>(m, "PoolConfig", "The shape of a GDNPool.")
        .def_readonly("num_layers", &PoolConfig::num_layers)
        .def_readonly("num_slots", &PoolConfig::num_slots)
        .def_readonly("engine_managed_slots", &PoolConfig::engine_managed_slots)
        .def_readonly("num_k_heads", &PoolConfig::num_k_heads)
        .def_readonly("num_v_heads", &PoolConfig::num_v_heads)
        .def_readonly("head_k_dim", &PoolConfig::head_k_dim)
        .def_readonly("head_v_dim", &PoolConfig::head_v_dim)
        .def_readonly("conv_kernel", &PoolConfig::conv_kernel)
        .def_property_readonly("dtype", [](const PoolConfig& c) { return dtype_name(c.activation_dtype); })
        .def_property_readonly("state_dtype", [](const PoolConfig& c) { return dtype_name(c.state_dtype); })
        .def_property_readonly("conv_dim", &PoolConfig::conv_dim);

    py::class_<GDNPool, std::shared_ptr<GDNPool>>(
        m, "GDNPool",
        "The recurrent state (f32 [layers, slots + 1, HV, Dv, Dk], Dk contiguous) and conv state (activation "
        "dtype [layers, slots + 1, conv_dim, Kc - 1]) of every GDN layer for every request slot, on one "
        "backend's device. The last slot is the padding slot: a padded row of a captured decode batch points at "
        "it, and no forward call reads or writes it.")
        .def(py::init([](const Backend& backend, int num_layers, int64_t num_slots, int num_k_heads, int num_v_heads,
                         int head_k_dim, int head_v_dim, int conv_kernel, py::handle dtype, py::handle state_dtype,
                         bool engine_managed_slots) {
                 PoolConfig pc{num_layers, num_slots,  num_k_heads, num_v_heads,
                               head_k_dim, head_v_dim, conv_kernel, parse_dtype(dtype, "dtype")};
                 pc.state_dtype = parse_dtype(state_dtype, "state_dtype");
                 pc.engine_managed_slots = engine_managed_slots;
                 py::gil_scoped_release unlocked;
                 return std::make_shared<GDNPool>(backend, pc);
             }),
             py::arg("backend"), py::arg("num_layers"), py::arg("num_slots"), py::arg("num_k_heads"),
             py::arg("num_v_heads"), py::arg("head_k_dim"), py::arg("head_v_dim"), py::arg("conv_kernel") = 4,
             py::arg("dtype") = "bf16", py::arg("state_dtype") = "f32", py::arg("engine_managed_slots") = false,
             "A zeroed pool on backend's device. dtype is the activation dtype of the layers it serves "
             "('f32', 'bf16', 'f16' or a torch/NumPy dtype); state_dtype the recurrent state's (f32, or "
             "bf16/f16 where the backend declares it; computed in f32 either way). A batch may name only slots "
             "from alloc_slot, unless engine_managed_slots is True (the engine numbers slots itself).")
        .def_property_readonly("backend", &GDNPool::backend)
        .def_property_readonly("config", &GDNPool::config)
        .def_property_readonly("num_slots", &GDNPool::num_slots, "Usable slots (the padding slot not counted).")
        .def_property_readonly("padding_slot", &GDNPool::padding_slot, "The padding slot's index (num_slots).")
        .def_property_readonly("nbytes", &GDNPool::bytes, "Bytes of both states.")
        .def_property_readonly("owns_memory", &GDNPool::owns_memory,
                               "False for a pool over an engine's memory (GDNPool.over_memory).")
        .def("alloc_slot", &GDNPool::alloc_slot, "Takes a free slot and zeroes it (a new request).")
        .def("free_slot", &GDNPool::free_slot, py::arg("slot"), "Returns a slot to the free list (its contents stay).")
        .def("is_allocated", &GDNPool::is_allocated, py::arg("slot"))
        .def("free_slots", &GDNPool::free_slots, "The number of free slots.")
        .def("reset_slot", &GDNPool::reset_slot, py::arg("slot"), py::call_guard<py::gil_scoped_release>(),
             "Zeroes both states of slot in every layer.")
        .def("copy_slot", &GDNPool::copy_slot, py::arg("src"), py::arg("dst"), py::call_guard<py::gil_scoped_release>(),
             "Copies both states of every layer from src to dst (a prefix-cache snapshot in or out).")
        .def(
            "recurrent_state",
            [](const std::shared_ptr<GDNPool>& p, int layer) { return export_view(p->recurrent_state(layer), p); },
            py::arg("layer"),
            "Layer's recurrent state, [slots + 1, HV, Dv, Dk] f32, as a gdn.TensorView that aliases the pool: "
            "torch.from_dlpack(v)[slot] reads and writes the pool in place.")
        .def(
            "conv_state",
            [](const std::shared_ptr<GDNPool>& p, int layer) { return export_view(p->conv_state(layer), p); },
            py::arg("layer"),
            "Layer's conv state, [slots + 1, conv_dim, Kc - 1] in the activation dtype (oldest first), as a "
            "gdn.TensorView that aliases the pool.")
        .def(
            "snapshot",
            [](const GDNPool& p) {
                std::vector<uint8_t> bytes;
                {
                    py::gil_scoped_release unlocked;
                    bytes = p.snapshot();
                }
                return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            },
            "Every byte of the pool (both states), e.g. to prove that a rejected call changed nothing.")
        .def("__repr__", [](const GDNPool& p) {
            const PoolConfig& c = p.config();
            return "gdn.GDNPool(" + p.backend().name() + ", layers=" + std::to_string(c.num_layers) +
                   ", slots=" + std::to_string(c.num_slots) + ", H=" + std::to_string(c.num_k_heads) +
                   ", HV=" + std::to_string(c.num_v_heads) + ", Dk=" + std::to_string(c.head_k_dim) +
                   ", Dv=" + std::to_string(c.head_v_dim) + ", Kc=" + std::to_string(c.conv_kernel) + ", " +
                   dtype_name(c.activation_dtype) + ")";
        });
}

}  // namespace gdn::python
