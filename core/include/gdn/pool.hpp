// GDNPool: the recurrent and conv state of every GDN layer for every request slot, on one
// backend's device. The pool is the only source of truth for a request's state.
//
//   recurrent state  state dtype      [layers, slots + 1, HV, Dv, Dk]   (Dk contiguous)
//   conv state       activation dtype [layers, slots + 1, conv_dim, Kc - 1]  (oldest first)
//
// The extra last slot is the padding slot: a padded row of a captured decode batch points at it,
// and no forward call ever reads or writes it.
//
// The pool allocates both buffers on its backend, or works in place on buffers an engine already
// allocated in this layout (EngineMemory): an engine with its own state cache hands gdn views
// of it instead of copying states in and out.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/dtype.hpp"
#include "gdn/export.hpp"
#include "gdn/tensor.hpp"

namespace gdn {

struct PoolConfig {
    int num_layers = 1;     // GDN layers (indexed by gdn_layer_idx)
    int64_t num_slots = 1;  // usable slots, padding slot not counted
    int num_k_heads = 1;    // H
    int num_v_heads = 1;    // HV
    int head_k_dim = 0;     // Dk
    int head_v_dim = 0;     // Dv
    int conv_kernel = 4;    // Kc
    DType activation_dtype = DType::bf16;
    // The recurrent state's storage: f32, or bf16 / f16 to fit more requests (backends compute
    // in f32 and round to nearest even when they store; docs/numerics-state-dtype.md has the cost).
    DType state_dtype = DType::f32;
    // Who chooses the slots a batch names. false (the default): the pool does; a forward may name
    // only slots handed out by alloc_slot and not freed since, so a request whose slot was freed
    // (and perhaps handed to another request) is an error instead of silently sharing state.
    // true: the engine numbers slots itself (its own allocator, or states it placed with
    // write_recurrent / copy_slot); any slot in range may be named, and alloc_slot / free_slot
    // are only a helper the engine may ignore.
    bool engine_managed_slots = false;

    int64_t conv_dim() const { return 2LL * num_k_heads * head_k_dim + int64_t(num_v_heads) * head_v_dim; }
};

// Device memory an engine allocated and keeps owning, laid out as the pool's own buffers (see the
// top of this file). The pool reads and writes it in place and never frees it; the engine keeps
// it alive while the pool, and every view and batch over it, is in use.
struct EngineMemory {
    Backend device;                   // the backend whose device holds both buffers; empty: host
                                      // memory (accepted only by a backend the host can read)
    void* recurrent = nullptr;        // [layers, slots + 1, HV, Dv, Dk] recurrent state
    std::size_t recurrent_bytes = 0;  // exactly layers * (slots + 1) * recurrent_slot_bytes()
    void* conv = nullptr;             // [layers, slots + 1, conv_dim, Kc - 1] conv state
    std::size_t conv_bytes = 0;       // exactly layers * (slots + 1) * conv_slot_bytes()
};

// The exact sizes of EngineMemory's two buffers for `config` (checked as the pool's constructor
// checks it, with the same errors): what an engine allocates.
struct EngineMemorySizes {
    std::size_t recurrent_bytes = 0;
    std::size_t conv_bytes = 0;
};
GDN_API EngineMemorySizes engine_memory_sizes(const PoolConfig& config);

// The alignment an engine's buffers must have: what every plugin's mem_alloc guarantees
// (plugin.h), so that kernels see the same base alignment as in a pool gdn allocated.
inline constexpr std::size_t kEngineMemoryAlignment = 256;

class GDN_API GDNPool {
public:
    // The bytes a pool of `config` allocates on its device (both states, every layer, the padding
    // slot included), without allocating: what an engine checks against its memory budget first.
    // Checks `config` as the constructor does (the same errors).
    static std::size_t bytes_required(const PoolConfig& config);

    // Allocates the states on `backend` and zeroes them.
    GDNPool(const Backend& backend, const PoolConfig& config);
    // Works on `memory` in place: checks its device, sizes, alignment and that the two buffers do
    // not overlap (Error naming the field otherwise), and keeps its contents as they are (an
    // engine's existing states stay valid). Every slot starts free, as in a new pool.
    GDNPool(const Backend& backend, const PoolConfig& config, const EngineMemory& memory);

    // False for a pool over EngineMemory.
    bool owns_memory() const { return owns_memory_; }

    const Backend& backend() const { return backend_; }
    const PoolConfig& config() const { return config_; }
    int64_t num_slots() const { return config_.num_slots; }
    int64_t padding_slot() const { return config_.num_slots; }

    // Takes a free slot and resets it; throws Error when every slot is in use.
    int64_t alloc_slot();
    // Returns a slot to the free list (its contents are left as they are).
    void free_slot(int64_t slot);
    bool is_allocated(int64_t slot) const;
    // Throws Error naming `what`[r] when slot r (padding slot aside) is free, unless the slots are
    // engine-managed (PoolConfig::engine_managed_slots). The slots must be in range.
    void check_allocated(const std::string& what, const std::vector<int64_t>& slots) const;
    // The index of the first of `slots` that is a free slot of this pool (0..num_slots-1 and not
    // allocated), or -1 when there is none or the slots are engine-managed. Other values (the
    // padding slot, kNoStateWrite, out of range) are left to the caller's range checks.
    int64_t first_free(const std::vector<int64_t>& slots) const;
    int64_t free_slots() const;

    // Zeroes both states of `slot` in every layer (a new request).
    void reset_slot(int64_t slot);
    // Copies both states of every layer from src to dst (prefix-cache snapshot in or out).
    void copy_slot(int64_t src, int64_t dst);

    // This layer's slice: [slots + 1, HV, Dv, Dk] and [slots + 1, conv_dim, Kc - 1].
    TensorView recurrent_state(int layer) const;
    TensorView conv_state(int layer) const;

    // Host copies, for tests and tools. The recurrent state as f32 whatever the state dtype
    // (write_recurrent rounds to nearest even into a bf16 or f16 pool).
    std::vector<float> read_recurrent(int layer, int64_t slot) const;     // [HV, Dv, Dk]
    std::vector<uint8_t> read_conv_bytes(int layer, int64_t slot) const;  // [conv_dim, Kc-1]
    void write_recurrent(int layer, int64_t slot, const std::vector<float>& host);
    void write_conv_bytes(int layer, int64_t slot, const std::vector<uint8_t>& host);
    // Every byte of the pool (both states), to prove a rejected call changed nothing.
    std::vector<uint8_t> snapshot() const;

    std::size_t recurrent_slot_bytes() const;  // one layer, one slot
    std::size_t conv_slot_bytes() const;
    std::size_t bytes() const { return recurrent_.size() + conv_.size(); }

    // Expires when the pool is destroyed: a ForwardBatch checks it before every use, so that a
    // batch that outlived its pool is an Error instead of a dangling reference.
    std::weak_ptr<const void> lifetime() const { return lifetime_; }

private:
    void init_free_list();
    void check_slot(const char* what, int64_t slot, bool allow_padding) const;
    void check_layer(int layer) const;
    // Position of (layer, slot) counted in slots from the start of either state buffer.
    std::size_t slot_index(int layer, int64_t slot) const;

    Backend backend_;
    PoolConfig config_;
    DeviceBuffer recurrent_;
    DeviceBuffer conv_;
    bool owns_memory_ = true;
    std::shared_ptr<const void> lifetime_ = std::make_shared<char>();
    mutable std::mutex mutex_;  // guards the free list
    std::vector<char> allocated_;
    std::vector<int64_t> free_list_;
};

}  // namespace gdn
