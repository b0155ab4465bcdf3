#include "gdn/reference.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace gdn::reference {

namespace {
double silu(double x) { return x / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// y = x * rsqrt(sum x^2 + 1e-6) * scale, in place over n values.
void l2_normalize(double* x, int n, double scale) {
    double ss = 0.0;
    for (int i = 0; i < n; ++i) ss += x[i] * x[i];
    const double f = scale / std::sqrt(ss + 1e-6);
    for (int i = 0; i < n; ++i) x[i] *= f;
}
}  // namespace

std::vector<double> forward(Problem& p) {
    const int H = p.num_k_heads, HV = p.num_v_heads, Dk = p.head_k_dim, Dv = p.head_v_dim;
    const int Kc = p.conv_kernel;
    const int64_t C = p.conv_dim(), T = p.num_tokens(), B = p.num_requests();
    if (H <= 0 || HV % H != 0 || Kc < 1 || B < 0) throw std::invalid_argument("reference: bad dims");
    const int group = HV / H;
    std::vector<double> out(std::size_t(T * HV * Dv), 0.0);
    std::vector<double> y(static_cast<std::size_t>(C));

    for (int64_t r = 0; r < B; ++r) {
        const int64_t t0 = p.cu_seqlens[std::size_t(r)], t1 = p.cu_seqlens[std::size_t(r + 1)];
        double* conv_state = p.conv_state.data() + r * C * (Kc - 1);
        double* S_all = p.recurrent_state.data() + r * HV * Dv * Dk;

        for (int64_t t = t0; t < t1; ++t) {
            const double* x = p.mixed_qkv.data() + t * C;
            // 1. conv over the window [state (Kc-1 rows, oldest first); current row], then SiLU.
            for (int64_t c = 0; c < C; ++c) {
                const double* w = p.conv_weight.data() + c * Kc;
                double acc = w[Kc - 1] * x[c];
                for (int m = 0; m < Kc - 1; ++m) acc += w[m] * conv_state[c * (Kc - 1) + m];
                y[std::size_t(c)] = silu(acc);
            }
            // The window slides by one: drop the oldest, append the current input.
            for (int64_t c = 0; c < C; ++c) {
                double* s = conv_state + c * (Kc - 1);
                for (int m = 0; m + 1 < Kc - 1; ++m) s[m] = s[m + 1];
                if (Kc > 1) s[Kc - 2] = x[c];
            }
            // 2-3. split and normalize q and k per key head.
            double* q = y.data();
            double* k = y.data() + int64_t(H) * Dk;
            const double* v = y.data() + 2LL * H * Dk;
            for (int h = 0; h < H; ++h) {
                l2_normalize(q + h * Dk, Dk, 1.0 / std::sqrt(double(Dk)));
                l2_normalize(k + h * Dk, Dk, 1.0);
            }
            // 4-5. gates and the delta rule per value head.
            for (int hv = 0; hv < HV; ++hv) {
                const int h = hv / group;
                const double A_log = p.A_log[std::size_t(hv)],
                             x = p.a[std::size_t(t * HV + hv)] + p.dt_bias[std::size_t(hv)];
                double g = -std::exp(A_log) * softplus(x);
                // exp(A_log) = inf times softplus(x) = 0 (A_log above 709, x below -745): the product
                // is exp(A_log + log softplus(x)) = exp(A_log + x) there, not NaN.
                if (std::isnan(g)) g = -std::exp(A_log + x);
                const double beta = sigmoid(p.b[std::size_t(t * HV + hv)]);
                const double decay = std::exp(g);
                double* S = S_all + int64_t(hv) * Dv * Dk;
                const double* kh = k + h * Dk;
                const double* qh = q + h * Dk;
                for (int i = 0; i < Dv; ++i) {
                    double* row = S + int64_t(i) * Dk;
                    double sk = 0.0;
                    for (int j = 0; j < Dk; ++j) {
                        row[j] *= decay;
                        sk += row[j] * kh[j];
                    }
                    const double u = beta * (v[hv * Dv + i] - sk);
                    double o = 0.0;
                    for (int j = 0; j < Dk; ++j) {
                        row[j] += u * kh[j];
                        o += row[j] * qh[j];
                    }
                    out[std::size_t(t * HV * Dv + hv * Dv + i)] = o;
                }
            }
        }
    }
    return out;
}

double relative_l2(const std::vector<double>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
        const double d = got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
    }
    if (den == 0.0) return std::sqrt(num);
    return std::sqrt(num / den);
}

double max_abs_diff(const std::vector<double>& got, const std::vector<double>& want) {
    if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
    double m = 0.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
        m = std::max(m, std::abs(got[i] - want[i]));
    }
    return m;
}

}  // namespace gdn::reference
