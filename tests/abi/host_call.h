/* A small extend problem (f32) that host_v1_1.c and host_current.c run through a real plugin. */
#ifndef GDN_TEST_HOST_CALL_H
#define GDN_TEST_HOST_CALL_H

#include <stddef.h>
#include <stdint.h>

enum {
    HOST_H = 1,
    HOST_HV = 2,
    HOST_D = 16,
    HOST_KC = 4,
    HOST_B = 2,
    HOST_T = 21,
    HOST_SLOTS = 6, /* the last one is the padding slot */
    HOST_CONV_DIM = 2 * HOST_H * HOST_D + HOST_HV * HOST_D,
    HOST_STATE = HOST_SLOTS * HOST_HV * HOST_D * HOST_D,
    HOST_CONV_STATE = HOST_SLOTS * HOST_CONV_DIM * (HOST_KC - 1),
    HOST_OUT = HOST_T * HOST_HV * HOST_D
};

struct host_problem {
    int64_t lens[HOST_B]; /* sum HOST_T */
    float qkv[HOST_T * HOST_CONV_DIM];
    float a[HOST_T * HOST_HV], b[HOST_T * HOST_HV];
    float conv_weight[HOST_CONV_DIM * HOST_KC];
    float A_log[HOST_HV], dt_bias[HOST_HV];
    float conv_state[HOST_CONV_STATE]; /* read and written */
};

/* status of forward_gdn (or of what failed before it); message filled on failure. */
int host_v1_1_call(const char* plugin_path, const struct host_problem* p, float* out, float* state, char* message,
                   size_t capacity);
int host_current_call(const char* plugin_path, const struct host_problem* p, float* out, float* state, char* message,
                      size_t capacity);

#endif
