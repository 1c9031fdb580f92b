/* vclip info FILE: what an embeddings file holds, after validating all of it
 * (structure at open, then every embedding value and string, streamed in
 * blocks so memory does not grow with the file). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "data/dataset.h"
#include "data/h5_guard.h"
#include "data/h5_reader.h"
#include "tensor/sort.h"

/* Progress of the validation, one byte per step, to the watching parent
 * (vc_cmd_info); -1 when validating in this process. */
static int progress_fd = -1;
static void progress(char c) {
    if (progress_fd >= 0) {
        ssize_t r = write(progress_fd, &c, 1);
        (void)r;
    }
}

/* What a person sees of the same progress: rows and strings checked. */
static vc_progress_line shown;

/* One step of vc_h5_scan: a byte to the watching parent, the progress line. */
static void on_progress(void *ctx, const char *phase, int64_t done, int64_t total) {
    (void)ctx;
    progress('.');
    vc_progress_update(&shown, phase, done, total, NULL);
}

/* Validates and describes the file; leaves *hp open for the caller to close
 * (closing is where a damaged file can make libhdf5 loop forever). */
static int info_main(const char *path, vc_h5 **hp) {
    if (vc_h5_open(hp, path)) return vc_cmd_error("info", "%s", vc_last_error());
    progress('.');
    vc_h5 *h = *hp;
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t V = in->n_videos, D = in->dim;
    vc_progress_init(&shown, "info");
    int64_t n_meta = 0;
    vc_status st = vc_h5_scan(h, true, &n_meta, on_progress, NULL);
    vc_progress_done(&shown);
    int64_t *len = malloc((size_t)(V ? V : 1) * sizeof *len);
    if (!st && !len)
        st = vc_fail(VC_ERR_OOM, "%s: out of memory for the frame counts of %lld videos (%lld bytes)", path, (long long)V,
                     (long long)V * (long long)sizeof *len);
    if (st) {
        free(len);
        return vc_cmd_error("info", "%s", vc_last_error());
    }

    const int64_t *off = vc_h5_offsets(h);
    for (int64_t v = 0; v < V; v++) len[v] = off[v + 1] - off[v];
    qsort(len, (size_t)V, sizeof *len, vc_cmp_i64);
    printf("file:        %s\n", path);
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
    if (in->has_meta)
        printf("metadata:    /video/meta: %lld of %lld videos have JSON metadata\n", (long long)n_meta, (long long)V);
    else
        printf("metadata:    none (no /video/meta)\n");
    printf("checked:     structure, chunk indexes, %lld frame rows, %lld caption rows, %lld class rows finite; strings readable%s\n",
           (long long)in->n_frames, (long long)(in->has_text_embeddings ? in->n_captions : 0),
           (long long)(in->has_class_embeddings ? in->n_classes : 0), in->has_meta ? "; metadata is JSON" : "");
    free(len);
    return 0;
}

/* Once the answer is out, closing a read-only file takes no time. */
#define CLOSE_GRACE_S 10

/* The parent's side: reads the child's progress; a child that makes no
 * progress for stall_s seconds is killed. Returns the exit code of the
 * command (the child's, or 1 with the reason on stderr). */
static int watch_child(pid_t pid, int fd, const char *path, int stall_s) {
    bool done = false; /* the child finished its output and now closes the file */
    int child_rc = 1, status = 0;
    unsigned char buf[256];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int limit_s = done ? CLOSE_GRACE_S : stall_s;
        int r = poll(&p, 1, limit_s * 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) { /* no progress: libhdf5 is looping on damaged metadata */
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            close(fd);
            if (done && child_rc) return child_rc; /* its error is already out */
            return vc_cmd_error("info", "%s: corrupt HDF5 file: the HDF5 library stopped responding (no progress in "
                                        "%d s) while %s it", path, limit_s, done ? "closing" : "reading");
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* the child has exited (or closed the pipe) */
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != 'D' && buf[i] != 'E') continue; /* '.': a step of progress */
            done = true;
            child_rc = buf[i] == 'D' ? 0 : 1;
        }
    }
    close(fd);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return vc_cmd_error("info", "%s: cannot wait for the validation: %s", path, strerror(errno));
    if (done) { /* the answer is out; the child then closed the file */
        if (child_rc || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return child_rc;
        return vc_cmd_error("info", "%s: corrupt HDF5 file: the HDF5 library failed while closing it", path);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return vc_cmd_error("info", "%s: corrupt HDF5 file: the HDF5 library crashed (signal %d) while reading it", path,
                        WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* libhdf5 1.10 can crash, or loop forever, inside its own code on metadata
 * corrupted in place (data/FORMAT.md). info is the command users run to
 * validate a file, so it does the work in a child process that reports its
 * progress through a pipe: a crash, or no progress for VCLIP_H5_STALL_SECONDS
 * or VCLIP_INFO_STALL_SECONDS (default 60; every step reads at most 8 MB,
 * 4096 strings or 1024 chunk index entries: vc_h5_scan), becomes an
 * error. A file that validates but hangs libhdf5 when closed is reported as
 * corrupt too. */
static int info_file(const char *path) {
    int stall_s = vc_cmd_stall_seconds();
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    pid_t pid = -1;
    if (pipe(fds) == 0 && (pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
    }
    if (pid < 0) { /* no process (or pipe) to spare: validate here */
        vc_h5 *h = NULL;
        int rc = info_main(path, &h);
        vc_h5_close(h);
        return rc;
    }
    if (pid == 0) {
        close(fds[0]);
        progress_fd = fds[1];
        struct stat sb;
        vc_h5_cap_child_memory(stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0);
        vc_h5 *h = NULL;
        int rc = info_main(path, &h);
        fflush(stdout);
        fflush(stderr);
        progress(rc == 0 ? 'D' : 'E');
        /* the answer is complete: what libhdf5 says while closing a damaged
         * file is the parent's to report, in one line */
        FILE *quiet = freopen("/dev/null", "w", stderr);
        (void)quiet;
        vc_h5_close(h);
        _exit(rc);
    }
    close(fds[1]);
    int rc = watch_child(pid, fds[0], path, stall_s);
    return rc;
}

/* Several files: each validated and described as above, then what they hold
 * together as one dataset (data/dataset.h: `[data] file` may list them). */
int vc_cmd_info(int argc, char **argv) {
    if (argc < 2) return vc_cmd_error("info", "%s", vc_cmd_usage("info"));
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') return vc_cmd_error("info", "%s", vc_cmd_usage("info"));
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (i > 1) printf("\n");
        fflush(stdout);
        if (info_file(argv[i])) rc = 1;
    }
    if (rc || argc == 2) return rc;
    vc_dataset *ds;
    if (vc_dataset_open_files(&ds, (const char *const *)argv + 1, argc - 1)) return vc_cmd_error("info", "%s", vc_last_error());
    const vc_h5_info *t = vc_dataset_info(ds);
    printf("\ntotal:       %d files, dim %lld, %lld videos (%lld with 0 frames, %lld without captions), %lld frames, "
           "%lld captions\n",
           argc - 1, (long long)t->dim, (long long)t->n_videos, (long long)t->n_empty_videos, (long long)t->n_uncaptioned,
           (long long)t->n_frames, (long long)t->n_captions);
    printf("splits:     ");
    for (int s = 0; s < VC_NSPLITS; s++)
        if (t->has_split[s]) printf(" %s %lld", vc_split_name(s), (long long)t->split_size[s]);
        else printf(" %s (not in every file)", vc_split_name(s));
    printf("\nclasses:     %s\n", t->has_labels ? "one class table shared by every file" : "none shared by every file");
    vc_dataset_close(ds);
    return 0;
}
