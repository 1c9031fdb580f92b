/* rng.h: seeded random numbers.
 * vc_rng is a small sequential generator (xoshiro256**) for initialisation
 * and shuffling; its whole state is 4 words so it checkpoints trivially.
 * vc_hash_uniform() is counter-based: the value for (seed, stream, index)
 * does not depend on which thread draws it, so dropout masks are identical
 * for any thread count and can be recomputed in the backward pass. */
#ifndef VC_RNG_H
#define VC_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } vc_rng;

void vc_rng_seed(vc_rng *r, uint64_t seed);
uint64_t vc_rng_next(vc_rng *r);
double vc_rng_uniform(vc_rng *r);          /* [0, 1) with 53 random bits */
double vc_rng_normal(vc_rng *r);           /* standard normal (Box-Muller) */
uint64_t vc_rng_below(vc_rng *r, uint64_t n); /* uniform in [0, n), unbiased */

/* Uniform in [0, 1) from (seed, stream, index), 24 random bits. */
float vc_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

#endif
