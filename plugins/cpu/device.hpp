// What the one CPU device is: model name, memory, threads.
#pragma once

#include "gdn/plugin.h"

namespace gdn_cpu {

void describe_device(gdn_device_properties& props);

// The most worker threads a stream may ask for. oneTBB crashes on an arena of more than 65536
// slots; far below that, each thread only adds scheduling overhead and per-thread scratch.
inline constexpr int kMaxThreads = 4096;

// Threads a stream gets for options->num_threads == 0: GDN_NUM_THREADS when set to a positive
// number, else every thread this process may use.
int default_threads();

}  // namespace gdn_cpu
