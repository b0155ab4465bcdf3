// RadixLinearAttention: one Gated DeltaNet layer. It holds the layer's parameters and runs
// forward on whatever backend the ForwardBatch names, reading and writing that layer's state in
// the batch's pool.
#pragma once

#include "gdn/export.hpp"
#include "gdn/forward_batch.hpp"
#include "gdn/tensor.hpp"

namespace gdn {

// What a layer is, by name (the head dims have no default: a config that leaves one out is refused):
//   gdn::LayerConfig{.layer_id = 3, .gdn_layer_idx = 2, .num_k_heads = 16, .num_v_heads = 32,
//                    .head_k_dim = 128, .head_v_dim = 128}
struct LayerConfig {
    int layer_id = 0;       // the model's layer index
    int gdn_layer_idx = 0;  // this layer's index among the pool's GDN layers
    int num_k_heads = 1;    // H
    int num_v_heads = 1;    // HV, a multiple of H
    int head_k_dim = 0;     // Dk
    int head_v_dim = 0;     // Dv
};

class GDN_API RadixLinearAttention {
public:
    // conv_weight [conv_dim, Kc] in the activation dtype (conv_dim = 2*H*Dk + HV*Dv);
    // A_log, dt_bias [HV] f32, finite. The views must stay valid while the layer is used.
    RadixLinearAttention(const LayerConfig& config, TensorView conv_weight, TensorView A_log, TensorView dt_bias);
    // The same in pymllm's positional order.
    RadixLinearAttention(int layer_id, int gdn_layer_idx, int num_k_heads, int num_v_heads, int head_k_dim,
                         int head_v_dim, TensorView conv_weight, TensorView A_log, TensorView dt_bias);

    // mixed_qkv [T, conv_dim], a and b [T, HV], all in the activation dtype on the batch's
    // device. Returns out [T, HV*Dv] in the activation dtype. Checks everything before writing
    // anything: on an error the pool is unchanged.
    Tensor forward(ForwardBatch& batch, const TensorView& mixed_qkv, const TensorView& a, const TensorView& b) const;
    // Same, into a caller-provided `out` (no allocation: usable inside a captured graph).
    void forward(ForwardBatch& batch, const TensorView& mixed_qkv, const TensorView& a, const TensorView& b,
                 const TensorView& out) const;

    LayerConfig config() const {
        return LayerConfig{layer_id_, gdn_layer_idx_, num_k_heads_, num_v_heads_, head_k_dim_, head_v_dim_};
    }
    int layer_id() const { return layer_id_; }
    int gdn_layer_idx() const { return gdn_layer_idx_; }
    int num_k_heads() const { return num_k_heads_; }
    int num_v_heads() const { return num_v_heads_; }
    int head_k_dim() const { return head_k_dim_; }
    int head_v_dim() const { return head_v_dim_; }
    int conv_kernel() const { return int(conv_weight_.size(1)); }
    int64_t conv_dim() const { return conv_weight_.size(0); }
    DType activation_dtype() const { return conv_weight_.dtype(); }

private:
    int layer_id_, gdn_layer_idx_;
    int num_k_heads_, num_v_heads_, head_k_dim_, head_v_dim_;
    TensorView conv_weight_, A_log_, dt_bias_;
};

}  // namespace gdn
