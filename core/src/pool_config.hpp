// The pool's configuration check, shared by both ways of making a pool (pool.cpp,
// engine_memory.cpp). Private to gdn_core.
#pragma once

#include "gdn/pool.hpp"

namespace gdn::detail {

// Throws Error naming the first field out of range, or when the pool's size overflows.
void check_pool_config(const PoolConfig& config);

}  // namespace gdn::detail
