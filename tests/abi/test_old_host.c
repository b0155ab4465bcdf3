/* A plugin of this ABI (the cpu backend, as built) under a host of ABI 1.1: the older host's
 * shorter gdn_forward_args is accepted, nothing past it is read (it ends against an unreadable
 * page), and the call computes bit for bit what the same call from a current host computes.
 * Usage: test_old_host <plugin.so> [seed] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host_call.h"

static uint64_t rng_state;
static float uniform(void) { /* in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void fill(float* v, size_t n, float scale) {
    size_t i;
    for (i = 0; i < n; ++i) v[i] = scale * uniform();
}

int main(int argc, char** argv) {
    static struct host_problem p, p_old, p_new;
    static float out_old[HOST_OUT], out_new[HOST_OUT], state_init[HOST_STATE], state_old[HOST_STATE],
        state_new[HOST_STATE];
    char msg[512] = {0};
    const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    int st, i, nonzero = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s <plugin.so> [seed]\n", argv[0]);
        return 2;
    }
    printf("seed %llu (rerun: %s %s %llu)\n", (unsigned long long)seed, argv[0], argv[1], (unsigned long long)seed);
    rng_state = seed;
    p.lens[0] = 17;
    p.lens[1] = 4;
    fill(p.qkv, HOST_T * HOST_CONV_DIM, 1.0f);
    fill(p.a, HOST_T * HOST_HV, 1.0f);
    fill(p.b, HOST_T * HOST_HV, 1.0f);
    fill(p.conv_weight, HOST_CONV_DIM * HOST_KC, 0.4f);
    fill(p.A_log, HOST_HV, 1.0f);
    fill(p.dt_bias, HOST_HV, 0.1f);
    fill(p.conv_state, HOST_CONV_STATE, 1.0f);
    fill(state_init, HOST_STATE, 0.1f);
    p_old = p;
    p_new = p;
    memcpy(state_old, state_init, sizeof state_init);
    memcpy(state_new, state_init, sizeof state_init);
    memset(out_old, 0xFF, sizeof out_old); /* NaN: an unwritten element shows */
    memset(out_new, 0xFF, sizeof out_new);

    st = host_v1_1_call(argv[1], &p_old, out_old, state_old, msg, sizeof msg);
    if (st != 0) {
        printf("FAIL: the plugin refused an ABI 1.1 host's call: status %d: %s\n", st, msg);
        return 1;
    }
    st = host_current_call(argv[1], &p_new, out_new, state_new, msg, sizeof msg);
    if (st != 0) {
        printf("FAIL: the current host's call failed: status %d: %s\n", st, msg);
        return 1;
    }
    for (i = 0; i < HOST_OUT; ++i) {
        if (out_old[i] != out_old[i]) {
            printf("FAIL: output %d not written (NaN) under the ABI 1.1 host\n", i);
            return 1;
        }
        nonzero += out_old[i] != 0.0f;
    }
    if (nonzero == 0) {
        printf("FAIL: output all zero\n");
        return 1;
    }
    if (memcmp(out_old, out_new, sizeof out_old) || memcmp(state_old, state_new, sizeof state_old) ||
        memcmp(p_old.conv_state, p_new.conv_state, sizeof p_old.conv_state)) {
        printf("FAIL: the ABI 1.1 host's call and the current host's call differ\n");
        return 1;
    }
    if (!memcmp(state_old, state_init, sizeof state_init)) {
        printf("FAIL: the state did not change\n");
        return 1;
    }
    printf("ok: ABI 1.1 host and current host give bit-identical output and state\n");
    return 0;
}
