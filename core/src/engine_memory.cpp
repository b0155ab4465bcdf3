// GDNPool over memory an engine allocated (EngineMemory): the checks that make such a pool as safe
// as one gdn allocated, then the same pool over borrowed buffers.
#include <cstdint>
#include <cstdio>
#include <string>

#include "gdn/error.hpp"
#include "gdn/pool.hpp"
#include "pool_config.hpp"

namespace gdn {

namespace {

std::string address(const void* p) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", p);
    return text;
}

// One buffer: present, exactly the pool's size for it, aligned like the backend's allocations.
void check_buffer(const std::string& field, const void* data, std::size_t bytes, std::size_t slot_bytes,
                  const PoolConfig& c) {
    const std::size_t want = std::size_t(c.num_layers) * std::size_t(c.num_slots + 1) * slot_bytes;
    if (data == nullptr) invalid_argument("memory." + field, "non-null data");
    if (bytes != want)
        invalid_argument("memory." + field + "_bytes",
                         "num_layers x (num_slots + 1) x " + field + " slot bytes = " + std::to_string(c.num_layers) +
                             " x " + std::to_string(c.num_slots + 1) + " x " + std::to_string(slot_bytes) + " = " +
                             std::to_string(want) + " bytes, got " + std::to_string(bytes));
    if (reinterpret_cast<std::uintptr_t>(data) % kEngineMemoryAlignment != 0)
        invalid_argument("memory." + field, "an address aligned to " + std::to_string(kEngineMemoryAlignment) +
                                                " bytes (as the backend's own allocations), got " + address(data));
}

}  // namespace

EngineMemorySizes engine_memory_sizes(const PoolConfig& c) {
    detail::check_pool_config(c);  // also: the sizes fit in ptrdiff_t
    const std::size_t slots = std::size_t(c.num_layers) * std::size_t(c.num_slots + 1);
    EngineMemorySizes s;
    s.recurrent_bytes = slots * std::size_t(c.num_v_heads) * std::size_t(c.head_v_dim) * std::size_t(c.head_k_dim) *
                        dtype_size(c.state_dtype);
    s.conv_bytes = slots * std::size_t(c.conv_dim()) * std::size_t(c.conv_kernel - 1) * dtype_size(c.activation_dtype);
    return s;
}

GDNPool::GDNPool(const Backend& backend, const PoolConfig& config, const EngineMemory& memory)
    : backend_(backend), config_((detail::check_pool_config(config), config)), owns_memory_(false) {
    if (!backend_.valid()) invalid_argument("backend", "a loaded backend");
    // The same device test as for a layer's tensors: the backend's own memory, or host memory for
    // a backend that reads host memory.
    if (memory.device.valid()) {
        if (memory.device.plugin_ptr() != backend_.plugin_ptr() || memory.device.device() != backend_.device())
            invalid_argument("memory.device",
                             "memory on backend " + backend_.name() + ", got memory on " + memory.device.name());
    } else if (!backend_.host_accessible()) {
        invalid_argument("memory.device", "memory on backend " + backend_.name() +
                                              ", got host memory (this backend cannot read host memory)");
    }
    check_buffer("recurrent", memory.recurrent, memory.recurrent_bytes, recurrent_slot_bytes(), config_);
    check_buffer("conv", memory.conv, memory.conv_bytes, conv_slot_bytes(), config_);
    const auto r = reinterpret_cast<std::uintptr_t>(memory.recurrent);
    const auto c = reinterpret_cast<std::uintptr_t>(memory.conv);
    if (r < c + memory.conv_bytes && c < r + memory.recurrent_bytes)
        invalid_argument("memory.conv", "a buffer apart from memory.recurrent, got overlapping ranges (" +
                                            address(memory.recurrent) + " + " + std::to_string(memory.recurrent_bytes) +
                                            ", " + address(memory.conv) + " + " + std::to_string(memory.conv_bytes) +
                                            ")");
    recurrent_ = DeviceBuffer::borrow(backend_, memory.recurrent, memory.recurrent_bytes);
    conv_ = DeviceBuffer::borrow(backend_, memory.conv, memory.conv_bytes);
    init_free_list();
}

}  // namespace gdn
