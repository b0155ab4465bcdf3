#include "gdn/pool.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "gdn/error.hpp"
#include "pool_config.hpp"

namespace gdn::detail {
void check_pool_config(const PoolConfig& c) {
    if (c.num_layers < 1) invalid_argument("num_layers", "at least 1, got " + std::to_string(c.num_layers));
    if (c.num_slots < 1) invalid_argument("num_slots", "at least 1, got " + std::to_string(c.num_slots));
    if (c.num_k_heads < 1) invalid_argument("num_k_heads", "at least 1");
    if (c.num_v_heads < 1 || c.num_v_heads % c.num_k_heads != 0)
        invalid_argument("num_v_heads", "a positive multiple of num_k_heads (" + std::to_string(c.num_k_heads) +
                                            "), got " + std::to_string(c.num_v_heads));
    if (c.head_k_dim < 1) invalid_argument("head_k_dim", "at least 1");
    if (c.head_v_dim < 1) invalid_argument("head_v_dim", "at least 1");
    if (c.conv_kernel < 2) invalid_argument("conv_kernel", "at least 2, got " + std::to_string(c.conv_kernel));
    if (!is_activation_dtype(c.activation_dtype))
        invalid_argument("activation_dtype", std::string("f32, bf16 or f16, got ") + dtype_name(c.activation_dtype));
    if (!is_activation_dtype(c.state_dtype))
        invalid_argument("state_dtype", std::string("f32, bf16 or f16, got ") + dtype_name(c.state_dtype));
    // The byte counts below are size_t products: refuse a pool whose size would wrap around
    // (it would be allocated small and then written in full).
    using wide = unsigned __int128;
    const wide per_slot = wide(c.num_v_heads) * wide(c.head_v_dim) * wide(c.head_k_dim) * dtype_size(c.state_dtype) +
                          wide(c.conv_dim()) * wide(c.conv_kernel - 1) * dtype_size(c.activation_dtype);
    const wide total = per_slot * (wide(c.num_slots) + 1) * wide(c.num_layers);
    if (total > wide(PTRDIFF_MAX))
        throw Error(GDN_ERR_OUT_OF_MEMORY, "pool: " + std::to_string(c.num_layers) + " layers x " +
                                               std::to_string(c.num_slots) + " slots do not fit in memory");
}
}  // namespace gdn::detail

namespace gdn {

std::size_t GDNPool::bytes_required(const PoolConfig& c) {
    detail::check_pool_config(c);  // also: the total fits in ptrdiff_t
    const std::size_t per_slot =
        std::size_t(c.num_v_heads) * std::size_t(c.head_v_dim) * std::size_t(c.head_k_dim) * dtype_size(c.state_dtype) +
        std::size_t(c.conv_dim()) * std::size_t(c.conv_kernel - 1) * dtype_size(c.activation_dtype);
    return per_slot * (std::size_t(c.num_slots) + 1) * std::size_t(c.num_layers);
}

GDNPool::GDNPool(const Backend& backend, const PoolConfig& config)
    : backend_(backend), config_((detail::check_pool_config(config), config)) {
    if (!backend_.valid()) invalid_argument("backend", "a loaded backend");
    const auto total_slots = std::size_t(config_.num_slots + 1);
    recurrent_ = DeviceBuffer(backend_, std::size_t(config_.num_layers) * total_slots * recurrent_slot_bytes());
    conv_ = DeviceBuffer(backend_, std::size_t(config_.num_layers) * total_slots * conv_slot_bytes());
    Stream& s = backend_.default_stream();
    s.fill(recurrent_.data(), 0, recurrent_.size());
    s.fill(conv_.data(), 0, conv_.size());
    s.synchronize();
    init_free_list();
}

void GDNPool::init_free_list() {
    allocated_.assign(std::size_t(config_.num_slots), 0);
    free_list_.reserve(std::size_t(config_.num_slots));
    for (int64_t i = config_.num_slots; i-- > 0;) free_list_.push_back(i);  // hand out 0 first
}

std::size_t GDNPool::recurrent_slot_bytes() const {
    return std::size_t(config_.num_v_heads) * std::size_t(config_.head_v_dim) * std::size_t(config_.head_k_dim) *
           dtype_size(config_.state_dtype);
}

std::size_t GDNPool::conv_slot_bytes() const {
    return std::size_t(config_.conv_dim()) * std::size_t(config_.conv_kernel - 1) *
           dtype_size(config_.activation_dtype);
}

void GDNPool::check_slot(const char* what, int64_t slot, bool allow_padding) const {
    const int64_t limit = allow_padding ? config_.num_slots : config_.num_slots - 1;
    if (slot < 0 || slot > limit)
        invalid_argument(what, "a slot in 0.." + std::to_string(limit) + ", got " + std::to_string(slot));
}

std::size_t GDNPool::slot_index(int layer, int64_t slot) const {
    return std::size_t(layer) * std::size_t(config_.num_slots + 1) + std::size_t(slot);
}

void GDNPool::check_layer(int layer) const {
    if (layer < 0 || layer >= config_.num_layers)
        invalid_argument("layer", "a GDN layer index in 0.." + std::to_string(config_.num_layers - 1) + ", got " +
                                      std::to_string(layer));
}

int64_t GDNPool::alloc_slot() {
    int64_t slot;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_list_.empty())
            throw Error(GDN_ERR_OUT_OF_MEMORY,
                        "alloc_slot: all " + std::to_string(config_.num_slots) + " slots are in use");
        slot = free_list_.back();
        free_list_.pop_back();
        allocated_[std::size_t(slot)] = 1;
    }
    reset_slot(slot);
    return slot;
}

void GDNPool::free_slot(int64_t slot) {
    check_slot("slot", slot, false);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!allocated_[std::size_t(slot)])
        invalid_argument("slot", "an allocated slot, but " + std::to_string(slot) + " is free");
    allocated_[std::size_t(slot)] = 0;
    free_list_.push_back(slot);
}

bool GDNPool::is_allocated(int64_t slot) const {
    check_slot("slot", slot, false);
    std::lock_guard<std::mutex> lock(mutex_);
    return allocated_[std::size_t(slot)] != 0;
}

void GDNPool::check_allocated(const std::string& what, const std::vector<int64_t>& slots) const {
    if (config_.engine_managed_slots) return;
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t r = 0; r < slots.size(); ++r) {
        const int64_t s = slots[r];
        if (s == padding_slot() || (s >= 0 && s < config_.num_slots && allocated_[std::size_t(s)])) continue;
        const std::string name = what + "[" + std::to_string(r) + "]";
        check_slot(name.c_str(), s, true);
        invalid_argument(name, "a slot allocated with alloc_slot (or a pool with engine_managed_slots), but slot " +
                                   std::to_string(s) + " is free");
    }
}

int64_t GDNPool::first_free(const std::vector<int64_t>& slots) const {
    if (config_.engine_managed_slots) return -1;
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const int64_t s = slots[i];
        if (s >= 0 && s < config_.num_slots && !allocated_[std::size_t(s)]) return int64_t(i);
    }
    return -1;
}

int64_t GDNPool::free_slots() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return int64_t(free_list_.size());
}

void GDNPool::reset_slot(int64_t slot) {
    check_slot("slot", slot, false);
    Stream& s = backend_.default_stream();
    for (int l = 0; l < config_.num_layers; ++l) {
        const std::size_t layer_slot = slot_index(l, slot);
        s.fill(static_cast<char*>(recurrent_.data()) + layer_slot * recurrent_slot_bytes(), 0, recurrent_slot_bytes());
        s.fill(static_cast<char*>(conv_.data()) + layer_slot * conv_slot_bytes(), 0, conv_slot_bytes());
    }
    s.synchronize();
}

void GDNPool::copy_slot(int64_t src, int64_t dst) {
    check_slot("src", src, false);
    check_slot("dst", dst, false);
    if (src == dst) return;
    Stream& s = backend_.default_stream();
    auto* r = static_cast<char*>(recurrent_.data());
    auto* c = static_cast<char*>(conv_.data());
    const std::size_t rb = recurrent_slot_bytes(), cb = conv_slot_bytes();
    for (int l = 0; l < config_.num_layers; ++l) {
        s.copy(r + slot_index(l, dst) * rb, r + slot_index(l, src) * rb, rb, GDN_COPY_DEVICE_TO_DEVICE);
        s.copy(c + slot_index(l, dst) * cb, c + slot_index(l, src) * cb, cb, GDN_COPY_DEVICE_TO_DEVICE);
    }
    s.synchronize();
}

TensorView GDNPool::recurrent_state(int layer) const {
    check_layer(layer);
    const std::size_t total = std::size_t(config_.num_slots + 1);
    char* base = static_cast<char*>(recurrent_.data()) + std::size_t(layer) * total * recurrent_slot_bytes();
    return TensorView(base, config_.state_dtype,
                      {int64_t(total), config_.num_v_heads, config_.head_v_dim, config_.head_k_dim}, backend_);
}

TensorView GDNPool::conv_state(int layer) const {
    check_layer(layer);
    const std::size_t total = std::size_t(config_.num_slots + 1);
    char* base = static_cast<char*>(conv_.data()) + std::size_t(layer) * total * conv_slot_bytes();
    return TensorView(base, config_.activation_dtype, {int64_t(total), config_.conv_dim(), config_.conv_kernel - 1},
                      backend_);
}

std::vector<float> GDNPool::read_recurrent(int layer, int64_t slot) const {
    check_layer(layer);
    check_slot("slot", slot, true);
    std::vector<uint8_t> bytes(recurrent_slot_bytes());
    const std::size_t off = slot_index(layer, slot) * recurrent_slot_bytes();
    recurrent_.download(bytes.data(), bytes.size(), off);
    std::vector<float> v(bytes.size() / dtype_size(config_.state_dtype));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(load_as_double(bytes.data(), config_.state_dtype, i));
    return v;
}

std::vector<uint8_t> GDNPool::read_conv_bytes(int layer, int64_t slot) const {
    check_layer(layer);
    check_slot("slot", slot, true);
    std::vector<uint8_t> v(conv_slot_bytes());
    const std::size_t off = slot_index(layer, slot) * conv_slot_bytes();
    conv_.download(v.data(), conv_slot_bytes(), off);
    return v;
}

void GDNPool::write_recurrent(int layer, int64_t slot, const std::vector<float>& host) {
    check_layer(layer);
    check_slot("slot", slot, false);
    const std::size_t n = recurrent_slot_bytes() / dtype_size(config_.state_dtype);
    if (host.size() != n) invalid_argument("state", "HV*Dv*Dk = " + std::to_string(n) + " floats");
    std::vector<uint8_t> bytes(recurrent_slot_bytes());
    for (std::size_t i = 0; i < n; ++i) store_from_double(bytes.data(), config_.state_dtype, i, host[i]);
    const std::size_t off = slot_index(layer, slot) * recurrent_slot_bytes();
    recurrent_.upload(bytes.data(), bytes.size(), off);
}

void GDNPool::write_conv_bytes(int layer, int64_t slot, const std::vector<uint8_t>& host) {
    check_layer(layer);
    check_slot("slot", slot, false);
    if (host.size() != conv_slot_bytes()) invalid_argument("conv_state", std::to_string(conv_slot_bytes()) + " bytes");
    const std::size_t off = slot_index(layer, slot) * conv_slot_bytes();
    conv_.upload(host.data(), conv_slot_bytes(), off);
}

std::vector<uint8_t> GDNPool::snapshot() const {
    std::vector<uint8_t> v(recurrent_.size() + conv_.size());
    recurrent_.download(v.data(), recurrent_.size());
    conv_.download(v.data() + recurrent_.size(), conv_.size());
    return v;
}

}  // namespace gdn
