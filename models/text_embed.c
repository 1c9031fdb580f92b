#include "models/text_embed.h"

#include <string.h>

vc_status vc_clip_embed_texts(vc_tape *t, const vc_clip *m, vc_tokenizer *tk, const char *const *texts, int64_t n,
                              int32_t *ids, float *out) {
    int64_t L = m->cfg.context, E = m->cfg.embed;
    for (int64_t i = 0; i < n; i++) {
        vc_status s = vc_tokenize(tk, texts[i], ids + i * L, (int)L, NULL);
        if (s) return s;
    }
    vc_tensor x;
    vc_status s = vc_tensor_wrap(&x, ids, VC_I32, VC_DIMS(n, L));
    if (s) return s;
    vc_tape_reset(t);
    vc_var *e = vc_clip_encode_text(t, m, &x);
    if (!e) return vc_tape_status(t);
    vc_backend_for(e->val.device)->copy_d2h(out, e->val.data, (size_t)(n * E) * sizeof(float));
    return VC_OK;
}
