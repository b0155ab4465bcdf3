// The backend under test and seeds, shared by every backend test body. The same test bodies run
// for every backend (GDN_TEST_BACKEND=cpu, cuda, ...): a backend is held to one standard.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "gdn/backend.hpp"
#include "gdn/harness.hpp"

namespace gdn::test {

// The backend named by GDN_TEST_BACKEND (default "cpu"), opened once.
const Backend& backend();
// A fresh seed per call unless GDN_TEST_SEED is set; printed with a way to rerun.
uint64_t seed(const std::string& test_name);
// Runs `call` and expects a gdn::Error with `status` whose message contains `fragment` (Catch2
// checks: a call that is accepted, or refused for another reason, fails the test).
void expect_error(const std::string& fragment, const std::function<void()>& call,
                  gdn_status status = GDN_ERR_INVALID_ARGUMENT);

}  // namespace gdn::test
