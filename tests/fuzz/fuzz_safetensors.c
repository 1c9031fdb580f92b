/* fuzz_safetensors.c: safetensors files as vclip reads them
 * (tensor/safetensors.h): the header and data checks in both open modes,
 * every tensor loaded as float32, raw and as a view; then the same bytes as
 * a training checkpoint (train/trainer.h vc_model_from_checkpoint: the
 * stored config, the pooler built from it, every parameter, and the
 * optimiser and loader state that --resume reads) and as a CLIP checkpoint
 * (models/clip.h vc_clip_load, both towers, either naming scheme).
 * Errors are fine; crashes, leaks and undefined behaviour are findings. */
#include <stdlib.h>
#include <string.h>

#include "models/clip.h"
#include "tensor/safetensors.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

static void walk(const char *path, vc_st_mode mode) {
    vc_st_file *f = NULL;
    if (vc_st_open(&f, path, mode) != VC_OK) return;
    for (int i = 0; i < vc_st_count(f); i++) {
        const vc_st_tensor *t = vc_st_at(f, i);
        if (vc_st_find(f, t->name) != t) abort(); /* names are unique */
        vc_tensor x;
        if (vc_st_load_f32_new(f, t->name, &x) == VC_OK) {
            (void)vc_st_check_finite(path, t->name, x.data, (size_t)vc_numel(&x));
            vc_tensor_release(&x);
        }
        if (vc_st_load_new(f, t->name, &x) == VC_OK) vc_tensor_release(&x);
        if (vc_st_view(f, t->name, &x) == VC_OK) vc_tensor_release(&x);
    }
    for (int i = 0; i < vc_st_meta_count(f); i++) {
        const char *k, *v;
        vc_st_meta_at(f, i, &k, &v);
        if (vc_st_meta(f, k) == NULL) abort();
    }
    vc_st_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, data, size);
    walk(path, VC_ST_MMAP);
    walk(path, VC_ST_READ);

    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    if (vc_model_from_checkpoint(path, NULL, 0, &cfg, &rc, &ps, &m) == VC_OK) {
        vc_adamw opt;
        if (vc_adamw_init(&opt, &ps, &rc.adamw) == VC_OK) {
            vc_ckpt_state st;
            (void)vc_ckpt_load(path, &ps, &opt, &st);
            vc_adamw_free(&opt);
        }
    }
    vc_params_free(&ps);
    vc_config_free(cfg);

    vc_clip clip;
    vc_clip_opts o = {0};
    if (vc_clip_load(&clip, path, &o) == VC_OK) vc_clip_free(&clip);
    return 0;
}
