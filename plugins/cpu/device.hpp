// What the one CPU device is: model name, memory, threads.
#pragma once

#include "gdn/plugin.h"

namespace gdn_cpu {

void describe_device(gdn_device_properties& props);

// Threads a stream gets for options->num_threads == 0: GDN_NUM_THREADS when set to a positive
// number, else every thread this process may use.
int default_threads();

}  // namespace gdn_cpu
