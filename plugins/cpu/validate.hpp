// Checks of a forward_gdn call that the host may not make (the plugin's capability limits) and
// cheap re-checks of the layout the host promises, so that a bad call is refused before any
// byte is written. On success fills the decoded Problem.
#pragma once

#include "gdn/plugin.h"
#include "problem.hpp"

namespace gdn_cpu {

gdn_status validate(const gdn_forward_args& args, Problem& p, gdn_errbuf err);

}  // namespace gdn_cpu
