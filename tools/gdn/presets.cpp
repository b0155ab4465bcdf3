#include "presets.hpp"

#include <stdexcept>

namespace gdn::cli {

const std::vector<Preset>& presets() {
    // From the models' published configurations (linear_num_key_heads, linear_num_value_heads,
    // linear_key_head_dim, linear_value_head_dim, linear_conv_kernel_dim; 3 of every 4 layers GDN).
    static const std::vector<Preset> list = {
        {"qwen3-next-80b-a3b", 16, 32, 128, 128, 4, 36},
        {"qwen3.5-0.8b", 16, 16, 128, 128, 4, 18},
        {"qwen3.5-9b", 16, 32, 128, 128, 4, 24},
        {"qwen3.5-27b", 16, 48, 128, 128, 4, 48},
    };
    return list;
}

const Preset& find_preset(const std::string& name) {
    std::string known;
    for (const auto& p : presets()) {
        if (p.name == name) return p;
        known += (known.empty() ? "" : ", ") + p.name;
    }
    throw std::invalid_argument("--preset: one of " + known + ", or 'custom' with --heads/--dims; got '" + name + "'");
}

}  // namespace gdn::cli
