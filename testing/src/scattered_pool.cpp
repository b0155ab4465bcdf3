#include "scattered_pool.hpp"

#include <algorithm>
#include <random>

namespace gdn::detail {

void fill_scattered_pool(GDNPool& pool, const reference::Problem& p, DType act, const std::vector<int64_t>& slots) {
    const std::size_t rec_n = std::size_t(int64_t(p.num_v_heads) * p.head_v_dim * p.head_k_dim);
    const std::size_t conv_n = std::size_t(p.conv_dim() * (p.conv_kernel - 1));
    std::mt19937 rng(12345);
    std::uniform_real_distribution<float> noise(-1.f, 1.f);
    for (int layer = 0; layer < 2; ++layer)
        for (int64_t s = 0; s < pool.config().num_slots; ++s) {
            std::vector<float> rec(rec_n);
            std::vector<uint8_t> conv(conv_n * dtype_size(act));
            for (auto& x : rec) x = noise(rng);
            for (std::size_t i = 0; i < conv_n; ++i) store_from_double(conv.data(), act, i, noise(rng));
            pool.write_recurrent(layer, s, rec);
            pool.write_conv_bytes(layer, s, conv);
        }
    for (std::size_t r = 0; r < slots.size(); ++r) {
        std::vector<float> rec(rec_n);
        for (std::size_t i = 0; i < rec_n; ++i) rec[i] = float(p.recurrent_state[r * rec_n + i]);
        std::vector<uint8_t> conv(conv_n * dtype_size(act));
        for (std::size_t i = 0; i < conv_n; ++i) store_from_double(conv.data(), act, i, p.conv_state[r * conv_n + i]);
        pool.write_recurrent(1, slots[r], rec);
        pool.write_conv_bytes(1, slots[r], conv);
    }
}

bool untouched_outside(const GDNPool& pool, const std::vector<uint8_t>& before, const std::vector<uint8_t>& after,
                       const std::vector<int64_t>& named) {
    // The snapshot holds the recurrent slots of every layer (num_slots + 1 per layer, the padding
    // slot last), then the conv slots alike: layer 1's slot s is num_slots + 1 + s slots into each.
    std::vector<char> used(after.size(), 0);
    const std::size_t total = std::size_t(pool.config().num_slots + 1);
    const std::size_t rec_bytes = pool.recurrent_slot_bytes(), conv_bytes = pool.conv_slot_bytes();
    const std::size_t rec_region = 2 * total * rec_bytes;
    for (int64_t s : named) {
        std::fill_n(used.begin() + std::ptrdiff_t((total + std::size_t(s)) * rec_bytes), rec_bytes, 1);
        std::fill_n(used.begin() + std::ptrdiff_t(rec_region + (total + std::size_t(s)) * conv_bytes), conv_bytes, 1);
    }
    if (before.size() != after.size()) return false;
    for (std::size_t i = 0; i < after.size(); ++i)
        if (!used[i] && after[i] != before[i]) return false;
    return true;
}

}  // namespace gdn::detail
