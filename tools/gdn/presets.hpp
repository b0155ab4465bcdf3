// Model presets: the GDN layer shapes of published hybrid models.
#pragma once

#include <string>
#include <vector>

namespace gdn::cli {

struct Preset {
    std::string name;
    int num_k_heads, num_v_heads, head_k_dim, head_v_dim, conv_kernel;
    int gdn_layers;  // GDN layers in the model (the rest are full attention)
};

const std::vector<Preset>& presets();
const Preset& find_preset(const std::string& name);  // throws std::invalid_argument listing names

}  // namespace gdn::cli
