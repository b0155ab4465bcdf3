// Reading the serving-state fields of a golden file (state dtype, checkpoints, verify + commit),
// and the exact reading of a golden file's integers that every field uses. Private to
// gdn_testing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gdn/harness.hpp"
#include "gdn/safetensors.hpp"

namespace gdn::detail {

// A golden file's integer tensor as int64, exactly (through double they would round above 2^53,
// and a value beyond int64 would not convert at all); Error unless it is I64 or I32.
std::vector<int64_t> golden_integers(const std::string& origin, const SafetensorsTensor& t);

// Fills c.state_dtype, the checkpoints and their expected states, and accepted (mode "verify"),
// checking every shape against the case's dims; Error naming the file and tensor otherwise.
void load_serving_fields(const SafetensorsFile& f, const std::filesystem::path& file, Case& c);

}  // namespace gdn::detail
