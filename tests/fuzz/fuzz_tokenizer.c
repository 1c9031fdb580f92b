/* fuzz_tokenizer.c: the CLIP tokenizer (models/tokenizer.h, public API
 * only) on arbitrary bytes: text cleaning (ftfy's repairs, HTML entities,
 * NFC, lower case), BPE and the context-length row, then decoding both the
 * ids it made and raw ids taken from the input. The vocabulary is the real
 * one when `make vocab` has fetched it (build/vocab/, or $VC_FUZZ_VOCAB),
 * else a tiny one written here, so the harness runs offline too.
 * Errors are fine; crashes, leaks, undefined behaviour, an id outside the
 * vocabulary and a row that breaks the documented layout are findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

static vc_tokenizer *g_tk;

static const char k_tiny_merges[] = "#version: tiny\nh e\nl l\nhe ll\nhell o</w>\nc a\nca t</w>\nt h\nth e</w>\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *v = getenv("VC_FUZZ_VOCAB");
    if (!v || !*v) v = "build/vocab/bpe_simple_vocab_16e6.txt.gz";
    if (access(v, R_OK) != 0) {
        static char tiny[512];
        snprintf(tiny, sizeof tiny, "%s/tiny_vocab.txt", fuzz_dir());
        FILE *f = fopen(tiny, "w");
        if (!f || fputs(k_tiny_merges, f) < 0 || fclose(f) != 0) abort();
        v = tiny;
    }
    if (vc_tokenizer_load(&g_tk, v) != VC_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", vc_last_error());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_str(data, size);
    const int32_t V = vc_tokenizer_vocab_size(g_tk), sot = vc_tokenizer_sot(g_tk), eot = vc_tokenizer_eot(g_tk);
    char *clean = NULL;
    if (vc_tokenizer_clean(text, &clean) == VC_OK) free(clean);

    int32_t row[VC_TOKENIZER_CONTEXT];
    int n = 0;
    if (vc_tokenize(g_tk, text, row, VC_TOKENIZER_CONTEXT, &n) == VC_OK) {
        if (n < 2 || n > VC_TOKENIZER_CONTEXT || row[0] != sot || row[n - 1] != eot) abort();
        for (int i = 0; i < VC_TOKENIZER_CONTEXT; i++)
            if (row[i] < 0 || row[i] >= V || (i >= n && row[i] != 0)) abort();
    }
    int32_t *ids = NULL;
    if (vc_tokenizer_encode(g_tk, text, &ids, &n) == VC_OK) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= V) abort();
        char *back = NULL;
        if (vc_tokenizer_decode(g_tk, ids, n, &back) == VC_OK) free(back);
        free(ids);
    }
    /* raw ids, -1 .. V: in range, or just outside it */
    int m = (int)(size / 2);
    int32_t *raw = malloc((size_t)(m ? m : 1) * sizeof *raw);
    for (int i = 0; i < m; i++) raw[i] = (int32_t)((data[2 * i] | data[2 * i + 1] << 8) % (V + 2)) - 1;
    char *back = NULL;
    if (vc_tokenizer_decode(g_tk, raw, m, &back) == VC_OK) free(back);
    free(raw);
    free(text);
    return 0;
}
