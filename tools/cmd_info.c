/* vclip info FILE: what an embeddings file holds, after validating all of it
 * (structure at open, then every embedding value and string, streamed in
 * blocks so memory does not grow with the file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "data/h5_reader.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Reads every row of one embedding set in blocks (the reader checks values). */
static vc_status scan_rows(vc_h5 *h, vc_status (*rd)(vc_h5 *, int64_t, int64_t, float *), int64_t rows, int64_t D) {
    int64_t block = (8 << 20) / (D * (int64_t)sizeof(float));
    if (block < 1) block = 1;
    float *buf = malloc((size_t)(block < rows ? block : rows > 0 ? rows : 1) * (size_t)D * sizeof *buf);
    if (!buf) return vc_fail(VC_ERR_OOM, "out of memory");
    vc_status st = VC_OK;
    for (int64_t r = 0; r < rows && !st; r += block) st = rd(h, r, rows - r < block ? rows - r : block, buf);
    free(buf);
    return st;
}

static vc_status scan_strings(vc_h5 *h, vc_h5_strings which, int64_t n) {
    enum { BLOCK = 4096 };
    char **s = malloc(BLOCK * sizeof *s);
    if (!s) return vc_fail(VC_ERR_OOM, "out of memory");
    vc_status st = VC_OK;
    for (int64_t i = 0; i < n && !st; i += BLOCK) {
        int64_t k = n - i < BLOCK ? n - i : BLOCK;
        st = vc_h5_read_strings(h, which, i, k, s);
        if (!st)
            for (int64_t j = 0; j < k; j++) free(s[j]);
    }
    free(s);
    return st;
}

static int info_main(int argc, char **argv) {
    vc_h5 *h;
    if (vc_h5_open(&h, argv[1])) return vc_cmd_error("info", "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t V = in->n_videos, D = in->dim;
    vc_status st = scan_rows(h, vc_h5_read_frames, in->n_frames, D);
    if (!st && in->has_text_embeddings) st = scan_rows(h, vc_h5_read_text, in->n_captions, D);
    if (!st && in->has_class_embeddings) {
        float *c = malloc((size_t)(in->n_classes ? in->n_classes : 1) * (size_t)D * sizeof *c);
        st = c ? vc_h5_read_classes(h, c) : vc_fail(VC_ERR_OOM, "out of memory");
        free(c);
    }
    if (!st) st = scan_strings(h, VC_H5_IDS, V);
    if (!st && in->has_captions_text) st = scan_strings(h, VC_H5_CAPTIONS, in->n_captions);
    if (!st && in->has_class_names) st = scan_strings(h, VC_H5_CLASS_NAMES, in->n_classes);
    int64_t *len = malloc((size_t)(V ? V : 1) * sizeof *len);
    if (!st && !len) st = vc_fail(VC_ERR_OOM, "out of memory");
    if (st) {
        free(len);
        vc_h5_close(h);
        return vc_cmd_error("info", "%s", vc_last_error());
    }

    const int64_t *off = vc_h5_offsets(h);
    for (int64_t v = 0; v < V; v++) len[v] = off[v + 1] - off[v];
    qsort(len, (size_t)V, sizeof *len, cmp_i64);
    printf("file:        %s\n", argv[1]);
    printf("format:      vclip-embeddings version %d\n", in->version);
    printf("dim:         %lld\n", (long long)D);
    printf("dtype:       frames %s", vc_dtype_name(in->frame_dtype));
    if (in->has_text_embeddings) printf(", text %s", vc_dtype_name(in->text_dtype));
    if (in->has_class_embeddings) printf(", classes %s", vc_dtype_name(in->class_dtype));
    printf("\n");
    if (in->clip_model) printf("clip_model:  %s\n", in->clip_model);
    if (in->fps > 0) printf("fps:         %g\n", in->fps);
    printf("videos:      %lld (%lld with 0 frames, %lld without captions)\n", (long long)V,
           (long long)in->n_empty_videos, (long long)in->n_uncaptioned);
    if (V > 0) {
        double med = V % 2 ? (double)len[V / 2] : 0.5 * (double)(len[V / 2 - 1] + len[V / 2]);
        printf("frames:      %lld (per video min %lld, median %g, max %lld)\n", (long long)in->n_frames,
               (long long)len[0], med, (long long)len[V - 1]);
    } else {
        printf("frames:      0\n");
    }
    printf("captions:    %lld (%s%s)\n", (long long)in->n_captions, in->has_captions_text ? "with text" : "no text",
           in->has_text_embeddings ? "" : ", NOT YET ENCODED: no /text/embeddings");
    bool any = false;
    for (int s = 0; s < VC_NSPLITS; s++) any |= in->has_split[s];
    if (any) {
        printf("splits:     ");
        for (int s = 0; s < VC_NSPLITS; s++)
            if (in->has_split[s]) printf(" %s %lld", vc_split_name(s), (long long)in->split_size[s]);
        printf("\n");
    } else {
        printf("splits:      none (the whole file is one split)\n");
    }
    if (in->n_classes > 0)
        printf("classes:     %lld (%s%s%s)\n", (long long)in->n_classes, in->has_labels ? "labels" : "no labels",
               in->has_class_names ? ", names" : "", in->has_class_embeddings ? ", embeddings" : "");
    printf("checked:     structure, %lld frame rows, %lld caption rows, %lld class rows finite; strings readable\n",
           (long long)in->n_frames, (long long)(in->has_text_embeddings ? in->n_captions : 0),
           (long long)(in->has_class_embeddings ? in->n_classes : 0));
    free(len);
    vc_h5_close(h);
    return 0;
}

/* libhdf5 1.10 can crash inside its own code on metadata corrupted in place
 * (data/FORMAT.md). info is the command users run to validate a file, so it
 * does the work in a child process and turns such a crash into an error. */
int vc_cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') return vc_cmd_error("info", "usage: vclip info FILE");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return info_main(argc, argv); /* no process to spare: validate here */
    if (pid == 0) {
        int rc = info_main(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return vc_cmd_error("info", "%s: cannot wait for the validation: %s", argv[1], strerror(errno));
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return vc_cmd_error("info", "%s: corrupt HDF5 file: the HDF5 library crashed (signal %d) while reading it",
                        argv[1], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
