// The pool a harness run works in: two layers, layer 1 used, every slot of both layers filled
// with a known pattern so that a stray write shows, and the requests' states in slots of the
// caller's choosing. Shared by run_case and run_serving_case. Private to gdn_testing.
#pragma once

#include <cstdint>
#include <vector>

#include "gdn/pool.hpp"
#include "gdn/reference.hpp"

namespace gdn::detail {

// Fills every slot of layers 0 and 1 of `pool` with a fixed noise pattern, then writes request
// r's states of `p` (activation dtype `act` for the conv state) into layer 1, slot `slots[r]`.
void fill_scattered_pool(GDNPool& pool, const reference::Problem& p, DType act, const std::vector<int64_t>& slots);

// Whether every byte of the pool snapshot `after` outside the slots `named` of layer 1 equals
// `before`: other slots, the padding slot and layer 0.
bool untouched_outside(const GDNPool& pool, const std::vector<uint8_t>& before, const std::vector<uint8_t>& after,
                       const std::vector<int64_t>& named);

}  // namespace gdn::detail
