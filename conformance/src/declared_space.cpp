// The capability space a backend declares, as the values the random cases must run, and how many
// random cases that takes.
#include <algorithm>

#include "cases.hpp"

namespace gdn::conformance::detail {

namespace {

constexpr int kDefaultRandomCases = 24;
constexpr int kLargestHeadDim = 65536;  // ranges declared beyond this are run up to here

std::vector<int> head_dims(const gdn_size_range& r) {
    std::vector<int> dims;
    if (nearest_supported(r, r.min) < 0) return dims;
    for (int preferred : {r.min, 48, 64, 100, 128, kLargestHeadDim}) dims.push_back(nearest_supported(r, preferred));
    std::sort(dims.begin(), dims.end());
    dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
    return dims;
}

std::vector<int> bits(uint32_t mask, int lo, int hi) {
    std::vector<int> v;
    for (int b = lo; b <= hi; ++b)
        if (mask & (1u << unsigned(b))) v.push_back(b);
    return v;
}

}  // namespace

bool DeclaredSpace::empty() const {
    return dtypes.empty() || modes.empty() || conv_kernels.empty() || gva_ratios.empty() || head_k_dims.empty() ||
           head_v_dims.empty();
}

DeclaredSpace declared_space(const gdn_capabilities& caps) {
    DeclaredSpace s;
    for (int t : bits(caps.activation_dtypes, GDN_DTYPE_F32, GDN_DTYPE_F16)) s.dtypes.push_back(DType(t));
    for (int m : bits(caps.modes, GDN_MODE_EXTEND, GDN_MODE_MIXED)) s.modes.push_back(ForwardMode(m));
    s.conv_kernels = bits(caps.conv_kernels, 2, 31);
    s.gva_ratios = bits(caps.gva_ratios, 1, 31);
    s.head_k_dims = head_dims(caps.head_k_dim);
    s.head_v_dims = head_dims(caps.head_v_dim);
    return s;
}

int random_case_count(const Options& options, const DeclaredSpace& s) {
    return options.random_cases >= 0 ? options.random_cases : random_cases_needed(s);
}

int random_cases_needed(const DeclaredSpace& s) {
    // Every value of the longest axis once; the head dims twice (a case with both dims large
    // shrinks one of them, the other in alternate rounds); every dtype in every mode.
    const std::size_t dims = std::max(s.head_k_dims.size(), s.head_v_dims.size());
    const std::size_t need = std::max({s.dtypes.size() * s.modes.size(), s.conv_kernels.size(), s.gva_ratios.size(),
                                       2 * dims, std::size_t(kDefaultRandomCases)});
    return int(need);
}

}  // namespace gdn::conformance::detail
