#include "rng.h"

#include <math.h>

void vc_rng_seed(vc_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = vc_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t vc_rng_next(vc_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double vc_rng_uniform(vc_rng *r) { return (double)(vc_rng_next(r) >> 11) * 0x1.0p-53; }

double vc_rng_normal(vc_rng *r) {
    double u1 = vc_rng_uniform(r), u2 = vc_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t vc_rng_below(vc_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = vc_rng_next(r); while (x >= limit);
    return x % n;
}

float vc_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull) ^ (index * 0x9e3779b97f4a7c15ull);
    uint64_t z = vc_splitmix64(&x);
    return (float)(z >> 40) * 0x1.0p-24f;
}
