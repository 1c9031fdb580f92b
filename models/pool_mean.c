/* mean: the zero-shot baseline. Masked mean of the normalised frames; no
 * parameters. */
#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) { return VC_OK; }

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    return vc_masked_mean(t, x, 1, len);
}

const vc_pool_impl vc_pool_mean_impl = {init, forward};
