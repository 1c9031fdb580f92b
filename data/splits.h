/* splits.h: train/val/test splits made by ratio, shared by the importers and
 * encode-video. A split is drawn per video from a seed: exact sizes
 * round(r_train V) and round((r_train + r_val) V), members picked by a seeded
 * permutation, so the same seed and V always give the same split. */
#ifndef VC_SPLITS_H
#define VC_SPLITS_H

#include <stdbool.h>
#include <stdint.h>

#include "data/h5_reader.h"
#include "data/h5_writer.h"

/* "0.8,0.1,0.1": three fractions >= 0 adding up to 1. */
bool vc_split_ratio_parse(const char *s, double r[VC_NSPLITS]);
/* out[v] = VC_SPLIT_TRAIN, VC_SPLIT_VAL or VC_SPLIT_TEST for v < V. */
vc_status vc_split_by_ratio(int64_t V, const double r[VC_NSPLITS], uint64_t seed, int8_t *out);
/* Writes all three splits (even empty ones, so no reader mistakes a missing
 * split for "the whole file") from out[v] (negative: in no split); the
 * sizes land in sizes[] when not NULL. */
vc_status vc_split_write(vc_h5w *w, const int8_t *split_of, int64_t V, int64_t sizes[VC_NSPLITS]);

#endif
