// Reading the serving-state fields of a golden file (state dtype, checkpoints, verify + commit).
// Private to gdn_testing.
#pragma once

#include <filesystem>

#include "gdn/harness.hpp"
#include "gdn/safetensors.hpp"

namespace gdn::detail {

// Fills c.state_dtype, the checkpoints and their expected states, and accepted (mode "verify"),
// checking every shape against the case's dims; Error naming the file and tensor otherwise.
void load_serving_fields(const SafetensorsFile& f, const std::filesystem::path& file, Case& c);

}  // namespace gdn::detail
