/* rng.h: seeded random numbers.
 * vc_rng is a small sequential generator (xoshiro256**) for initialisation
 * and shuffling; its whole state is 4 words so it checkpoints trivially.
 * vc_hash_uniform() is counter-based: the value for (seed, stream, index)
 * does not depend on which thread draws it, so dropout masks are identical
 * for any thread count and can be recomputed in the backward pass.
 * vc_mix64 / vc_splitmix64 are the one 64-bit mixer (splitmix64) that seeding,
 * hashing and the data loader's shuffles share; inline, as the loader calls
 * them per sample. */
#ifndef VC_RNG_H
#define VC_RNG_H

#include <stdint.h>

/* splitmix64's output function: a bijection of 64 bits in which every input bit
 * affects every output bit. */
static inline uint64_t vc_mix64(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* splitmix64: advances *state by the golden-ratio step and mixes it. */
static inline uint64_t vc_splitmix64(uint64_t *state) { return vc_mix64(*state += 0x9e3779b97f4a7c15ull); }

typedef struct { uint64_t s[4]; } vc_rng;

void vc_rng_seed(vc_rng *r, uint64_t seed);
uint64_t vc_rng_next(vc_rng *r);
double vc_rng_uniform(vc_rng *r);          /* [0, 1) with 53 random bits */
double vc_rng_normal(vc_rng *r);           /* standard normal (Box-Muller) */
uint64_t vc_rng_below(vc_rng *r, uint64_t n); /* uniform in [0, n), unbiased */

/* Uniform in [0, 1) from (seed, stream, index), 24 random bits. */
float vc_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

#endif
