/* fuzz_csv.c: the two CSV readers on arbitrary bytes: encode-video's
 * caption CSV (data/encode.h vc_csv: RFC 4180 quoting, BOM, CRLF, multi-line
 * fields) read to its end, and import-wds's --splits CSV (data/wds_import.h
 * vc_shard_splits_read) with a lookup of every row it accepted; the first
 * line also goes through --split-ratio's parser (data/splits.h). Errors are
 * fine; crashes, leaks, undefined behaviour, a record with no field and an
 * accepted row that cannot be found again are findings. */
#include <stdlib.h>
#include <string.h>

#include "data/encode.h"
#include "data/h5_reader.h"
#include "data/splits.h"
#include "data/wds_import.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, data, size);
    vc_csv *c = NULL;
    if (vc_csv_open(&c, path) == VC_OK) {
        char **fields;
        int n, got;
        int64_t line, last = 0;
        while (vc_csv_next(c, &fields, &n, &line, &got) == VC_OK && got) {
            if (n < 1 || line < 1 || line < last) abort();
            for (int i = 0; i < n; i++)
                if (!fields[i]) abort();
            last = line;
        }
        vc_csv_close(c);
    }
    vc_shard_splits s;
    if (vc_shard_splits_read(path, &s) == VC_OK) {
        for (int i = 0; i < s.n; i++) {
            if (s.splits[i] < 0 || s.splits[i] >= VC_NSPLITS) abort();
            /* a shard file named STEM.tar finds its row again */
            size_t k = strlen(s.names[i]);
            char *tar = malloc(k + 5);
            memcpy(tar, s.names[i], k);
            memcpy(tar + k, ".tar", 5);
            int row = vc_shard_splits_row(&s, tar);
            free(tar);
            if (row < 0 || strcmp(s.names[row], s.names[i]) != 0) abort();
        }
        vc_shard_splits_free(&s);
    }
    const uint8_t *nl = memchr(data, '\n', size);
    char *first = fuzz_str(data, nl ? (size_t)(nl - data) : size);
    double r[VC_NSPLITS];
    if (vc_split_ratio_parse(first, r)) {
        int8_t split[37];
        if (vc_split_by_ratio(37, r, 1, split) != VC_OK) abort();
    }
    free(first);
    return 0;
}
