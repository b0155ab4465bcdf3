// One forward_gdn call made straight through a plugin's C table, on memory laid out to catch
// what a call through the layer cannot: every buffer has guard bands of a known pattern before
// and after it, state slots are spaced with gaps of the pattern, input rows are wider than their
// data (as views into a projection output are), and the output is poisoned with NaN. Afterwards
// every byte that the plugin must not write is compared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gdn/backend.hpp"
#include "gdn/harness.hpp"

namespace gdn::conformance::detail {

struct DirectResult {
    gdn_status status = GDN_OK;
    std::string message;             // the plugin's message when status != GDN_OK
    std::vector<double> out;         // [T, HV*Dv]
    std::vector<uint8_t> out_bytes;  // the same, raw
    std::vector<double> recurrent;   // states after, per live request, in request order
    std::vector<double> conv;
    std::vector<uint8_t> state_bytes;  // live requests' slots, raw (both states)
    // Bytes the plugin wrote where it must not: guard bands, gaps, other slots, the padding slot,
    // inputs. One line per kind of violation.
    std::vector<std::string> violations;
    bool out_unchanged = false;         // the poisoned output is exactly as it was (nothing written)
    bool live_states_unchanged = true;  // the named slots hold what they held before
};

// Runs `c` with request r marked as padding when padding[r] (its slot is the padding slot; its
// state in c.problem is ignored). `padding` may be empty.
// `edit`, when given, changes the arguments just before the call (the ABI 1.2 refusal cases).
DirectResult direct_call(const Backend& backend, const Case& c, const std::vector<bool>& padding,
                         const std::function<void(gdn_forward_args&)>& edit = {});

}  // namespace gdn::conformance::detail
