// Running a fully specified GDN problem through any backend and holding the result against the
// fp64 reference or a golden file. Shared by `gdn run`, `gdn check`, the tests and conformance:
// one harness, so every backend is measured the same way.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/export.hpp"
#include "gdn/forward_batch.hpp"
#include "gdn/layer.hpp"
#include "gdn/pool.hpp"
#include "gdn/reference.hpp"
#include "gdn/safetensors.hpp"
#include "gdn/tensor.hpp"

namespace gdn {

// One test case: the problem (inputs already rounded to the activation dtype, states before)
// and, for golden files, the expected results.
struct GDN_API Case {
    std::string name;
    DType activation_dtype = DType::f32;
    ForwardMode mode = ForwardMode::extend;
    reference::Problem problem;
    struct Expected {
        std::vector<double> out, conv_state, recurrent_state;
    };
    std::optional<Expected> expected;  // empty: computed with the reference on demand

    // Serving-state features (ABI 1.2); a case using any of them runs through
    // run_serving_case. With `accepted`, expected.out is the verify call's output and the
    // expected states are those after the commit.
    DType state_dtype = DType::f32;       // the pool's recurrent-state dtype
    std::vector<int64_t> checkpoint_cu;   // [B+1] into checkpoint_pos; empty: none
    std::vector<int64_t> checkpoint_pos;  // token counts, per request increasing
    std::vector<int64_t> accepted;        // [B]: verify, then commit these counts
    struct ExpectedCheckpoints {
        std::vector<double> recurrent, conv;  // [N, HV, Dv, Dk], [N, conv_dim, Kc-1]
    };
    std::optional<ExpectedCheckpoints> expected_checkpoints;
    bool uses_serving_features() const {
        return state_dtype != DType::f32 || !checkpoint_pos.empty() || !accepted.empty();
    }
};

// Shape of a random case.
struct RandomCaseSpec {
    int num_k_heads = 2, num_v_heads = 4, head_k_dim = 32, head_v_dim = 32, conv_kernel = 4;
    DType activation_dtype = DType::f32;
    ForwardMode mode = ForwardMode::extend;
    std::vector<int64_t> lengths{7, 0, 70};  // per request (1 each for decode)
    bool strong_decay = false;               // cumulative log decay far below -100 inside a chunk
    // Finite gate parameters at the ends of float's range, on every other value head (the others
    // stay ordinary): the decay factor must come out exactly 0, or exactly 1, never NaN.
    enum class ExtremeDecay {
        none,
        huge_rate,        // A_log = 89: exp(A_log) overflows float (decay 0)
        huge_softplus,    // dt_bias = 1e30: a + dt_bias and the product are huge (decay 0)
        rate_times_tiny,  // A_log = 89 and a = -200: float's inf * 0, in truth exp(-111) (decay 1)
    };
    ExtremeDecay extreme_decay = ExtremeDecay::none;
    double state_scale = 0.1;  // magnitude of the initial recurrent state
};

// Golden file -> Case (throws Error naming what is missing or malformed). Every size derived
// from the file's metadata and cu_seqlens is computed without overflow and checked against the
// shape of the tensor read; `origin` names the file in messages.
GDN_API Case load_golden(const std::filesystem::path& file);
GDN_API Case load_golden(const SafetensorsFile& file, const std::string& origin);
// Random inputs from a seeded generator; same seed, same case.
GDN_API Case random_case(const RandomCaseSpec& spec, uint64_t seed);
// A one-line description, e.g. "H=2 HV=4 Dk=32 Dv=32 Kc=4 bf16 extend lens=[7,0,70]".
GDN_API std::string describe(const Case& c);

struct Tolerance {
    double out = 2e-5, state = 2e-5;  // relative L2
    bool conv_exact = true;
};
// The golden README's table: f32 2e-5, bf16/f16 5e-3, conv state exact.
GDN_API Tolerance default_tolerance(DType activation_dtype);

struct CaseResult {
    double out_rel_l2 = 0, state_rel_l2 = 0, out_max_abs = 0;
    double out_max_rel = 0;        // max |got - want| / max |want| over the output
    bool degenerate = false;       // the output is all zero where the expected one is not
    bool conv_exact = true;        // conv state bit-identical to the expected one
    bool finite = true;            // no NaN or Inf anywhere in the outputs
    bool others_untouched = true;  // slots not named, the padding slot and other layers unchanged
    // Serving cases: checkpoints against the expected ones, verify left the pool bit-identical,
    // and the share of a 16-bit state's elements equal to the expected state rounded to nearest
    // even (near 1 when the backend rounds so; about 0.5 when it truncates).
    double checkpoint_rel_l2 = 0;
    bool checkpoint_conv_exact = true;
    bool verify_untouched = true;
    double state_rounding_match = 1.0;
    bool passed = false;
    std::string message;  // why it failed, with where (first_outside) for each result out of tolerance
};

// The three results of a forward call.
enum class ResultKind { out, recurrent_state, conv_state };

// Where `got` first differs from `want` by more than `tol` times the largest |want| (by anything
// when `tol` is 0; a NaN or Inf always counts), as "out request 1 token 5 (row 77) head 2 column
// 7: got 1.25, want 0.5". The output [T, HV*Dv] is named by request, token, head and column; the
// recurrent state [B, HV, Dv, Dk] by request, head, row (Dv) and column (Dk); the conv state
// [B, conv_dim, Kc-1] by request, channel (q, k or v head and column) and tap. When no single
// element is that far off (a relative L2 made of many small differences), the largest difference
// ("largest difference: ..."). Empty when the two are equal. `requests[i]` is the request of the
// i-th state block in got/want (empty: 0, 1, ...; for states of some requests only).
GDN_API std::string first_outside(const reference::Problem& p, ResultKind kind, const std::vector<double>& got,
                                  const std::vector<double>& want, double tol,
                                  const std::vector<int64_t>& requests = {});

struct RunOptions {
    Stream* stream = nullptr;  // default: the backend's default stream
};

// Places the states in scattered slots of a two-layer pool (layer 1 is used), runs the layer once
// with the output poisoned, checks everything against `c.expected` (or the reference), and that
// nothing outside the named slots of layer 1 changed.
GDN_API CaseResult run_case(const Backend& backend, const Case& c, const Tolerance& tol, const RunOptions& opt = {});
// A case with serving-state features (run_case hands those here): the pool in c.state_dtype,
// checkpoints into extra slots, or verify then commit; tolerance of a 16-bit state at least 5e-3.
GDN_API CaseResult run_serving_case(const Backend& backend, const Case& c, const Tolerance& tol,
                                    const RunOptions& opt = {});
// The reference's states of request r of `p` after its first n tokens: {recurrent, conv}.
GDN_API std::pair<std::vector<double>, std::vector<double>> reference_prefix_state(const reference::Problem& p,
                                                                                   int64_t r, int64_t n);

// ---- building blocks ----------------------------------------------------------------------------

// A pool shaped for the case's layer: its heads, dims, conv width and activation dtype; its slots
// are engine-managed (the harness and the tests place states in slots of their choosing).
GDN_API PoolConfig pool_config(const Case& c, int64_t num_slots, int num_layers = 1);

// A host vector rounded into a device tensor of dtype `t`.
GDN_API Tensor to_device(const Backend& backend, DType t, const std::vector<double>& host, std::vector<int64_t> shape);
// A device tensor (any dtype) read back as doubles.
GDN_API std::vector<double> to_host_double(const Tensor& t);

// The layer's parameters on a device, and the layer over them.
class GDN_API DeviceLayer {
public:
    DeviceLayer(const Backend& backend, const reference::Problem& p, DType activation_dtype, int gdn_layer_idx);
    const RadixLinearAttention& layer() const { return *layer_; }

private:
    Tensor conv_weight_, A_log_, dt_bias_;
    std::unique_ptr<RadixLinearAttention> layer_;
};

}  // namespace gdn
