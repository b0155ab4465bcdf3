// Fuzz target: loading a golden file and running it, the path `gdn check` and the conformance
// suite's golden cases take: SafetensorsFile::parse, load_golden (metadata, cu_seqlens, every
// derived size and shape, the serving-state fields), then run_case on the CPU backend (a two-layer pool, states in scattered
// slots, the layer over the file's inputs).
//
// Properties:
//   - the only exception is gdn::Error;
//   - a loaded case is consistent: every vector has exactly the elements its shape implies, with
//     the sizes computed here in 128 bits (a size that wrapped around 2^64 cannot match);
//   - its serving-state fields (metadata state_dtype: accepted counts, checkpoints) are in range:
//     one accepted count per request within its length, checkpoint_cu from 0 to the number of
//     checkpoints and non-decreasing, each request's positions increasing within its length, one
//     expected state per checkpoint;
//   - running it neither crashes nor reads or writes outside what it allocated (ASan).
// Cases whose pool or tensors would be large are loaded but not run (a fuzzing process has a
// memory limit; `gdn check` would ask the backend and get an out-of-memory error).
#include <cstdint>
#include <cstdlib>

#include "gdn/error.hpp"
#include "gdn/harness.hpp"
#include "gdn/registry.hpp"
#include "gdn/safetensors.hpp"

using namespace gdn;

namespace {

const Backend& cpu() {
    static const Registry reg({GDN_FUZZ_CPU_PLUGIN});
    static const Backend be = reg.open("cpu");
    return be;
}

using u128 = unsigned __int128;

void expect_size(const std::vector<double>& v, u128 n) {
    if (u128(v.size()) != n) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Case c;
    try {
        const SafetensorsFile f = SafetensorsFile::parse(data, size, "fuzz.safetensors");
        c = load_golden(f, "fuzz.safetensors");
    } catch (const Error&) {
        return 0;
    }
    const reference::Problem& p = c.problem;
    if (p.cu_seqlens.empty() || p.cu_seqlens.front() != 0) std::abort();
    for (std::size_t r = 1; r < p.cu_seqlens.size(); ++r)
        if (p.cu_seqlens[r] < p.cu_seqlens[r - 1]) std::abort();
    if (p.num_k_heads < 1 || p.num_v_heads < 1 || p.head_k_dim < 1 || p.head_v_dim < 1 || p.conv_kernel < 2 ||
        p.num_v_heads % p.num_k_heads != 0)
        std::abort();
    const u128 T = u128(p.num_tokens()), B = u128(p.num_requests()), HV = u128(p.num_v_heads);
    const u128 Dk = u128(p.head_k_dim), Dv = u128(p.head_v_dim), Kc = u128(p.conv_kernel);
    const u128 C = 2 * u128(p.num_k_heads) * Dk + HV * Dv;
    if (u128(p.conv_dim()) != C) std::abort();
    expect_size(p.mixed_qkv, T * C);
    expect_size(p.a, T * HV);
    expect_size(p.b, T * HV);
    expect_size(p.conv_weight, C * Kc);
    expect_size(p.A_log, HV);
    expect_size(p.dt_bias, HV);
    expect_size(p.conv_state, B * C * (Kc - 1));
    expect_size(p.recurrent_state, B * HV * Dv * Dk);
    if (!c.expected) std::abort();
    expect_size(c.expected->out, T * HV * Dv);
    expect_size(c.expected->conv_state, B * C * (Kc - 1));
    expect_size(c.expected->recurrent_state, B * HV * Dv * Dk);

    if (!is_activation_dtype(c.state_dtype)) std::abort();
    auto length = [&](std::size_t r) { return p.cu_seqlens[r + 1] - p.cu_seqlens[r]; };
    if (!c.accepted.empty()) {
        if (u128(c.accepted.size()) != B) std::abort();
        for (std::size_t r = 0; r < c.accepted.size(); ++r)
            if (c.accepted[r] < 0 || c.accepted[r] > length(r)) std::abort();
    }
    const u128 N = u128(c.checkpoint_pos.size());
    if (N > 0 || !c.checkpoint_cu.empty()) {
        if (u128(c.checkpoint_cu.size()) != B + 1 || c.checkpoint_cu.front() != 0 || u128(c.checkpoint_cu.back()) != N)
            std::abort();
        for (std::size_t r = 0; r + 1 < c.checkpoint_cu.size(); ++r) {
            if (c.checkpoint_cu[r + 1] < c.checkpoint_cu[r]) std::abort();
            int64_t last = 0;
            for (int64_t i = c.checkpoint_cu[r]; i < c.checkpoint_cu[r + 1]; ++i) {
                const int64_t at = c.checkpoint_pos[std::size_t(i)];
                if (at <= last || at > length(r)) std::abort();
                last = at;
            }
        }
        if (!c.expected_checkpoints) std::abort();
        expect_size(c.expected_checkpoints->recurrent, N * HV * Dv * Dk);
        expect_size(c.expected_checkpoints->conv, N * C * (Kc - 1));
    }

    // The pool run_case makes: 2 layers of 2B + 4 slots (padding included), N more for checkpoints.
    const u128 slot_bytes = HV * Dv * Dk * 4 + C * (Kc - 1) * 4;
    if (slot_bytes * (2 * B + N + 4) * 2 > (u128(1) << 24) || T * C > (u128(1) << 16)) return 0;
    try {
        (void)run_case(cpu(), c, default_tolerance(c.activation_dtype));
    } catch (const Error&) {}
    return 0;
}
