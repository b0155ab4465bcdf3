#include "recurrent.hpp"

#include "simd.hpp"

namespace gdn_cpu {

void recurrent_step(float* S, int64_t ld, int Dk, int rows, const float* k, const float* q,
                    const float* v, float decay, float beta, float* o) {
    const int body = Dk / 8 * 8;  // the state rows are packed at Dk: a scalar tail covers Dk % 8

    f8 kq8 = splat(0.0f);
    for (int j = 0; j < round_up(Dk, 8); j += 8) kq8 += load8(k + j) * load8(q + j);
    const float kq = hsum(kq8);

    // One pass per row: with S_i the old row, (decay S_i) . k and (decay S_i) . q give u_i and,
    // since the update adds u_i k, also o_i = decay (S_i . q) + u_i (k . q).
    for (int i = 0; i < rows; ++i) {
        float* s = S + i * ld;
        f8 sk0 = splat(0.0f), sk1 = splat(0.0f), sq0 = splat(0.0f), sq1 = splat(0.0f);
        int j = 0;
        for (; j + 16 <= body; j += 16) {
            const f8 a = load8(s + j), b = load8(s + j + 8);
            sk0 += a * load8(k + j), sk1 += b * load8(k + j + 8);
            sq0 += a * load8(q + j), sq1 += b * load8(q + j + 8);
        }
        for (; j < body; j += 8) {
            const f8 a = load8(s + j);
            sk0 += a * load8(k + j), sq0 += a * load8(q + j);
        }
        float sk = hsum(sk0 + sk1), sq = hsum(sq0 + sq1);
        for (; j < Dk; ++j) sk += s[j] * k[j], sq += s[j] * q[j];

        const float u = beta * (v[i] - decay * sk);
        o[i] = decay * sq + u * kq;
        const f8 d8 = splat(decay), u8 = splat(u);
        for (j = 0; j < body; j += 8) store8(s + j, d8 * load8(s + j) + u8 * load8(k + j));
        for (; j < Dk; ++j) s[j] = decay * s[j] + u * k[j];
    }
}

}  // namespace gdn_cpu
