/* The "native stream" of the native_streams test plugin: a queue object the caller creates and
 * owns, as an engine owns its cudaStream_t. Every copy, fill and synchronize the plugin runs on a
 * stream made from it counts in `ops`, so a test can see that gdn's work went to the caller's
 * queue. `magic` lets the plugin refuse a pointer that is not such a queue. */
#ifndef GDN_TEST_NATIVE_QUEUE_H
#define GDN_TEST_NATIVE_QUEUE_H

#include <stdint.h>

#define GDN_TEST_NATIVE_QUEUE_MAGIC 0x71756575u /* "queu" */

typedef struct gdn_test_native_queue {
    uint32_t magic;
    int32_t ops;
} gdn_test_native_queue;

#endif
