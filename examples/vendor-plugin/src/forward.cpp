// The function is the one in gdn's golden-vector README. Per request, per token t:
//   1. causal depthwise conv over [conv state; the request's rows], then SiLU;
//   2. split into q [H, Dk], k [H, Dk], v [HV, Dv];
//   3. q <- q / sqrt(sum q^2 + 1e-6) / sqrt(Dk);  k <- k / sqrt(sum k^2 + 1e-6);
//   4. g = -exp(A_log) * softplus(a + dt_bias);  beta = sigmoid(b);
//   5. per value head (key head hv / (HV/H)): S <- exp(g) S;  u = beta (v - S k);  S <- S + u k^T;
//      o = S q.
// The state S is f32 as the pool keeps it; sums are accumulated in double, which keeps this
// backend well inside the f32 tolerance without any care for summation order.
#include "forward.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

#include "numbers.hpp"

namespace myvendor {

namespace {

gdn_status refuse(gdn_errbuf err, gdn_status status, const char* what, long long value) {
    if (err.text && err.capacity)
        std::snprintf(err.text, err.capacity, "myvendor: %s %lld is not supported", what, value);
    return status;
}

gdn_status invalid(gdn_errbuf err, const char* what) {
    if (err.text && err.capacity) std::snprintf(err.text, err.capacity, "myvendor: %s", what);
    return GDN_ERR_INVALID_ARGUMENT;
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Scales x[0..n) to x / sqrt(sum x^2 + 1e-6) * scale.
void l2_normalize(std::vector<double>& x, int64_t first, int n, double scale) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += x[first + i] * x[first + i];
    const double f = scale / std::sqrt(sum + 1e-6);
    for (int i = 0; i < n; ++i) x[first + i] *= f;
}

}  // namespace

gdn_status check_forward(const gdn_forward_args& a, gdn_errbuf err) {
    // The host validated everything against our declared capabilities before calling. These
    // checks are for a host that did not: refuse cleanly rather than read out of bounds.
    if (a.struct_size < GDN_FORWARD_ARGS_MIN_SIZE_V1_0)
        return invalid(err, "gdn_forward_args is smaller than ABI 1.0's");
    // No ABI 1.2 serving feature (16-bit state, write slots, checkpoints, ...): refuse, never guess.
    if (const char* field = gdn_forward_args_unsupported(&a, 0, 0)) {
        if (err.text && err.capacity) std::snprintf(err.text, err.capacity, "myvendor: %s is not supported", field);
        return GDN_ERR_UNSUPPORTED;
    }
    const int32_t dt = a.activation_dtype;
    if (dt != GDN_DTYPE_F32 && dt != GDN_DTYPE_BF16 && dt != GDN_DTYPE_F16)
        return refuse(err, GDN_ERR_UNSUPPORTED, "activation dtype", dt);
    if (a.num_k_heads < 1 || a.num_v_heads < 1 || a.num_v_heads % a.num_k_heads != 0)
        return invalid(err, "num_v_heads must be a positive multiple of num_k_heads");
    if (a.num_v_heads / a.num_k_heads > kMaxGvaRatio)
        return refuse(err, GDN_ERR_UNSUPPORTED, "GVA ratio", a.num_v_heads / a.num_k_heads);
    if (a.head_k_dim < kMinHeadDim || a.head_k_dim > kMaxHeadDim)
        return refuse(err, GDN_ERR_UNSUPPORTED, "head_k_dim", a.head_k_dim);
    if (a.head_v_dim < kMinHeadDim || a.head_v_dim > kMaxHeadDim)
        return refuse(err, GDN_ERR_UNSUPPORTED, "head_v_dim", a.head_v_dim);
    if (a.conv_kernel < kMinConvKernel || a.conv_kernel > kMaxConvKernel)
        return refuse(err, GDN_ERR_UNSUPPORTED, "conv kernel", a.conv_kernel);
    if (!a.host_cu_seqlens || !a.host_slots) return invalid(err, "host_cu_seqlens and host_slots are required");
    const int64_t conv_dim = 2LL * a.num_k_heads * a.head_k_dim + int64_t(a.num_v_heads) * a.head_v_dim;
    if (a.mixed_qkv.shape[1] != conv_dim || a.conv_weight.shape[0] != conv_dim ||
        a.conv_weight.shape[1] != a.conv_kernel)
        return invalid(err, "mixed_qkv / conv_weight do not match the head dimensions");
    if (a.host_cu_seqlens[0] != 0 || a.host_cu_seqlens[a.num_requests] != a.num_tokens)
        return invalid(err, "cu_seqlens must run from 0 to num_tokens");
    for (int64_t r = 0; r < a.num_requests; ++r) {
        if (a.host_cu_seqlens[r + 1] < a.host_cu_seqlens[r]) return invalid(err, "cu_seqlens must not decrease");
        const int64_t slot = a.host_slots[r];
        if (slot != a.padding_slot && (slot < 0 || slot >= a.recurrent_state.shape[0]))
            return invalid(err, "a slot is outside the state tensors");
    }
    return GDN_OK;
}

void forward(const gdn_forward_args& a) {
    const int H = a.num_k_heads, HV = a.num_v_heads, Dk = a.head_k_dim, Dv = a.head_v_dim, Kc = a.conv_kernel;
    const int group = HV / H;  // value heads per key head
    const int32_t dt = a.activation_dtype;
    const int64_t C = 2LL * H * Dk + int64_t(HV) * Dv;

    std::vector<double> window(static_cast<size_t>(C * Kc));  // per channel: Kc-1 older inputs, then the current one
    std::vector<double> y(static_cast<size_t>(C));            // conv output after SiLU: [q | k | v]

    for (int64_t r = 0; r < a.num_requests; ++r) {
        const int64_t t0 = a.host_cu_seqlens[r], t1 = a.host_cu_seqlens[r + 1];
        const int64_t slot = a.host_slots[r];
        if (slot == a.padding_slot) {  // a padding row: zeros out, state neither read nor written
            for (int64_t t = t0; t < t1; ++t)
                for (int64_t i = 0; i < int64_t(HV) * Dv; ++i) store(a.out.data, dt, t * a.out.strides[0] + i, 0.0f);
            continue;
        }
        if (t0 == t1) continue;  // no new tokens: the state stays as it is

        float* S_slot = static_cast<float*>(a.recurrent_state.data) + slot * a.recurrent_state.strides[0];
        const int64_t conv_base = slot * a.conv_state.strides[0];  // [C, Kc-1] inside the slot
        for (int64_t c = 0; c < C; ++c)
            for (int m = 0; m < Kc - 1; ++m)
                window[size_t(c * Kc + m)] = load(a.conv_state.data, dt, conv_base + c * (Kc - 1) + m);

        for (int64_t t = t0; t < t1; ++t) {
            // 1. conv + SiLU; then the window slides by one.
            for (int64_t c = 0; c < C; ++c) {
                double* w = &window[size_t(c * Kc)];
                w[Kc - 1] = load(a.mixed_qkv.data, dt, t * a.mixed_qkv.strides[0] + c);
                double acc = 0.0;
                for (int m = 0; m < Kc; ++m) acc += double(load(a.conv_weight.data, dt, c * Kc + m)) * w[m];
                y[size_t(c)] = silu(acc);
                for (int m = 0; m + 1 < Kc; ++m) w[m] = w[m + 1];
            }
            // 2-3. q and k of each key head, normalized.
            const int64_t q0 = 0, k0 = int64_t(H) * Dk, v0 = 2LL * H * Dk;
            for (int h = 0; h < H; ++h) {
                l2_normalize(y, q0 + int64_t(h) * Dk, Dk, 1.0 / std::sqrt(double(Dk)));
                l2_normalize(y, k0 + int64_t(h) * Dk, Dk, 1.0);
            }
            // 4-5. gates and the delta rule, per value head.
            for (int hv = 0; hv < HV; ++hv) {
                const double A = std::exp(double(static_cast<const float*>(a.A_log.data)[hv]));
                const double bias = static_cast<const float*>(a.dt_bias.data)[hv];
                const double g = -A * softplus(double(load(a.a.data, dt, t * a.a.strides[0] + hv)) + bias);
                const double beta = sigmoid(load(a.b.data, dt, t * a.b.strides[0] + hv));
                const double decay = std::exp(g);
                const double* q = &y[size_t(q0 + int64_t(hv / group) * Dk)];
                const double* k = &y[size_t(k0 + int64_t(hv / group) * Dk)];
                const double* v = &y[size_t(v0 + int64_t(hv) * Dv)];
                float* S = S_slot + int64_t(hv) * Dv * Dk;  // [Dv, Dk], Dk contiguous
                for (int i = 0; i < Dv; ++i) {
                    float* row = S + int64_t(i) * Dk;
                    double Sk = 0.0;
                    for (int j = 0; j < Dk; ++j) {
                        row[j] = float(decay * row[j]);
                        Sk += double(row[j]) * k[j];
                    }
                    const double u = beta * (v[i] - Sk);
                    double o = 0.0;
                    for (int j = 0; j < Dk; ++j) {
                        row[j] = float(row[j] + u * k[j]);
                        o += double(row[j]) * q[j];
                    }
                    store(a.out.data, dt, t * a.out.strides[0] + int64_t(hv) * Dv + i, float(o));
                }
            }
        }
        // The new conv state: the last Kc-1 inputs, oldest first (older state is kept when the
        // request was shorter than that, because the window slid through it).
        for (int64_t c = 0; c < C; ++c)
            for (int m = 0; m < Kc - 1; ++m)
                store(a.conv_state.data, dt, conv_base + c * (Kc - 1) + m, float(window[size_t(c * Kc + m)]));
    }
}

}  // namespace myvendor
