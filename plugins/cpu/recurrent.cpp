#include "recurrent.hpp"

#include "simd.hpp"

namespace gdn_cpu::GDN_CPU_ISA {

void recurrent_step(float* S, int64_t ld, int Dk, int rows, const float* k, const float* q, const float* v, float decay,
                    float beta, float* o) {
    const int body = Dk / kLanes * kLanes;  // state rows are packed at Dk: a scalar tail covers the rest

    vf kq_acc = splat(0.0f);
    for (int j = 0; j < round_up(Dk, kLanes); j += kLanes) kq_acc += vload(k + j) * vload(q + j);
    const float kq = hsum(kq_acc);

    // One pass per row: with S_i the old row, (decay S_i) . k and (decay S_i) . q give u_i and,
    // since the update adds u_i k, also o_i = decay (S_i . q) + u_i (k . q).
    for (int i = 0; i < rows; ++i) {
        float* s = S + i * ld;
        // Two accumulators per dot product halve the FMA dependency chains.
        vf sk0 = splat(0.0f), sk1 = splat(0.0f), sq0 = splat(0.0f), sq1 = splat(0.0f);
        int j = 0;
        for (; j + 2 * kLanes <= body; j += 2 * kLanes) {
            const vf a = vload(s + j), b = vload(s + j + kLanes);
            sk0 += a * vload(k + j), sk1 += b * vload(k + j + kLanes);
            sq0 += a * vload(q + j), sq1 += b * vload(q + j + kLanes);
        }
        for (; j < body; j += kLanes) {
            const vf a = vload(s + j);
            sk0 += a * vload(k + j), sq0 += a * vload(q + j);
        }
        float sk = hsum(sk0 + sk1), sq = hsum(sq0 + sq1);
        for (; j < Dk; ++j) sk += s[j] * k[j], sq += s[j] * q[j];

        const float u = beta * (v[i] - decay * sk);
        o[i] = decay * sq + u * kq;
        const vf dv = splat(decay), uv = splat(u);
        for (j = 0; j < body; j += kLanes) vstore(s + j, dv * vload(s + j) + uv * vload(k + j));
        for (; j < Dk; ++j) s[j] = decay * s[j] + u * k[j];
    }
}

}  // namespace gdn_cpu::GDN_CPU_ISA
