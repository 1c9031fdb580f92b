/* fuzz_npy.c: .npy arrays (data/npy.h) on arbitrary bytes: the header
 * (magic, versions, the dict with descr / fortran_order / shape), the length
 * check, then every value converted to float32 (both roundings) and read
 * back one by one, as the importers do. The same bytes, read as a tar member
 * path, go through the WebDataset key split and the shard-name stem
 * (data/wds_import.h). Errors are fine; crashes, leaks, undefined behaviour
 * and a conversion that reports an index outside the array are findings. */
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "data/wds_import.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vc_npy_info in;
    if (vc_npy_parse(data, size, "fuzz.npy", &in) == VC_OK) {
        int64_t n = in.rows * in.cols;
        if (in.data_offset + in.data_bytes != size || (size_t)n * (size_t)in.elem_bytes != in.data_bytes) abort();
        float *out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
        if (!out) abort();
        for (int f16 = 0; f16 < 2; f16++) {
            int64_t big = vc_npy_to_f32(&in, data, out, f16);
            if (big < -1 || big >= n) abort();
        }
        for (int64_t i = 0; i < n && i < 64; i++) (void)vc_npy_value(&in, data, i);
        free(out);
    }
    char *path = fuzz_str(data, size < 4096 ? size : 4096);
    char key[256], stem[256];
    const char *ext = NULL;
    if (vc_wds_member_key(path, key, sizeof key, &ext) && (!ext || strlen(key) >= sizeof key)) abort();
    vc_shard_stem(path, stem, sizeof stem);
    free(path);
    return 0;
}
