// Moving a preferred shape into what a backend declares, so that the invariant, guard and
// determinism cases run on every backend, whatever subset of the function it implements.
#include <algorithm>

#include "cases.hpp"

namespace gdn::conformance::detail {

namespace {
// The preferred bit when set, else the lowest set bit in [lo, hi]; -1 when none.
int declared_bit(uint32_t mask, int preferred, int lo, int hi) {
    if (preferred >= lo && preferred <= hi && (mask & (1u << unsigned(preferred)))) return preferred;
    for (int b = lo; b <= hi; ++b)
        if (mask & (1u << unsigned(b))) return b;
    return -1;
}
}  // namespace

int nearest_supported(const gdn_size_range& r, int preferred) {
    if (r.multiple < 1 || r.min < 1 || r.min > r.max) return -1;
    if (preferred <= r.min) return r.min;
    const int64_t steps = (int64_t(std::min(preferred, r.max)) - r.min) / r.multiple;
    return int(r.min + steps * r.multiple);
}

std::optional<RandomCaseSpec> supported_spec(const gdn_capabilities& caps, RandomCaseSpec s, std::string* why) {
    auto fail = [&](const char* reason) -> std::optional<RandomCaseSpec> {
        if (why) *why = reason;
        return std::nullopt;
    };
    const int dtype = declared_bit(caps.activation_dtypes, int(s.activation_dtype), GDN_DTYPE_F32, GDN_DTYPE_F16);
    if (dtype < 0) return fail("declares no activation dtype (f32, bf16, f16)");
    const int mode = declared_bit(caps.modes, int(s.mode), GDN_MODE_EXTEND, GDN_MODE_MIXED);
    if (mode < 0) return fail("declares no mode (extend, decode, mixed)");
    const int kc = declared_bit(caps.conv_kernels, s.conv_kernel, 2, 31);
    if (kc < 0) return fail("declares no conv width in 2..31");
    const int ratio = declared_bit(caps.gva_ratios, s.num_v_heads / s.num_k_heads, 1, 31);
    if (ratio < 0) return fail("declares no GVA ratio in 1..31");
    const int dk = nearest_supported(caps.head_k_dim, s.head_k_dim),
              dv = nearest_supported(caps.head_v_dim, s.head_v_dim);
    if (dk < 0) return fail("declares no head_k_dim (empty or malformed range)");
    if (dv < 0) return fail("declares no head_v_dim (empty or malformed range)");
    s.activation_dtype = DType(dtype);
    s.mode = ForwardMode(mode);
    s.conv_kernel = kc;
    s.num_v_heads = s.num_k_heads * ratio;
    s.head_k_dim = dk;
    s.head_v_dim = dv;
    return s;
}

}  // namespace gdn::conformance::detail
