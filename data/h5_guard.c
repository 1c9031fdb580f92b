#include "data/h5_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/h5_common.h"
#include "data/h5_reader.h"

/* Bump when the check becomes stricter, so files passed by an older check
 * are checked again. */
#define CHECK_VERSION 2
/* The cache is rewritten with its newer half once it grows past this. */
#define CACHE_MAX_BYTES (1 << 20)
/* Once the child has answered, closing a read-only file takes no time. */
#define CLOSE_GRACE_S 10
/* Address space the child may map beyond what it inherited, besides the
 * file's size (vc_h5_cap_child_memory). */
#define CHILD_HEADROOM_BYTES (1ull << 30)

/* ---- the cache: one line per checked file version ---- */

/* "vclip-h5-check 1 meta DEV INO SIZE MTIME CTIME PATH\n" */
static bool cache_line(char *buf, size_t n, const char *path, bool values) {
    char real[PATH_MAX];
    struct stat sb;
    if (!realpath(path, real) || stat(real, &sb) != 0 || strchr(real, '\n')) return false;
    int k = snprintf(buf, n, "vclip-h5-check %d %s %llu %llu %lld %lld.%09ld %lld.%09ld %s\n", CHECK_VERSION,
                     values ? "values" : "meta", (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino,
                     (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
                     (long long)sb.st_ctim.tv_sec, sb.st_ctim.tv_nsec, real);
    return k > 0 && (size_t)k < n;
}

static char *read_small(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat sb;
    char *b = NULL;
    if (fstat(fd, &sb) == 0 && sb.st_size <= 4 * CACHE_MAX_BYTES && (b = malloc((size_t)sb.st_size + 1))) {
        ssize_t got = 0, r;
        while (got < sb.st_size && (r = read(fd, b + got, (size_t)(sb.st_size - got))) > 0) got += r;
        b[got] = '\0';
        *len = (size_t)got;
    }
    close(fd);
    return b;
}

static bool has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if (p == text || p[-1] == '\n') return true;
    return false;
}

static bool cache_has(const char *cache, const char *line) {
    size_t len = 0;
    char *text = read_small(cache, &len);
    if (!text) return false;
    bool hit = has_line(text, line);
    /* a check of the values covers one of the structure */
    char *meta = strstr(line, " meta ");
    if (!hit && meta) {
        char alt[PATH_MAX + 256];
        snprintf(alt, sizeof alt, "%.*s values %s", (int)(meta - line), line, meta + 6);
        hit = has_line(text, alt);
    }
    free(text);
    return hit;
}

static void make_parent_dirs(const char *path) {
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(d, 0700);
            *p = '/';
        }
}

/* Best effort: a cache that cannot be written only costs a check next time. */
static void cache_add(const char *cache, const char *line) {
    make_parent_dirs(cache);
    struct stat sb;
    if (stat(cache, &sb) == 0 && sb.st_size > CACHE_MAX_BYTES) {
        size_t len = 0;
        char *text = read_small(cache, &len);
        if (text) {
            const char *half = strchr(text + len / 2, '\n');
            char tmp[PATH_MAX + 32];
            snprintf(tmp, sizeof tmp, "%s.tmp.%d", cache, (int)getpid());
            FILE *f = fopen(tmp, "w");
            if (f) {
                bool ok = !half || fputs(half + 1, f) >= 0;
                if (fclose(f) == 0 && ok) rename(tmp, cache);
                else unlink(tmp);
            }
            free(text);
        }
    }
    int fd = open(cache, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ssize_t w = write(fd, line, strlen(line)); /* one write: appends of other processes do not interleave */
    (void)w;
    close(fd);
}

/* ---- the child ---- */

static void send(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

static void child_progress(void *ctx, const char *phase, int64_t done, int64_t total) {
    (void)phase, (void)done, (void)total;
    send(*(int *)ctx, ".", 1);
}

static void child_fail(int fd, vc_status st) {
    char code = (char)st;
    /* 'M': what the file states could not be allocated (the cap), or a
     * string was refused for its stated length */
    send(fd, vc_h5i_alloc_failed() || st == VC_ERR_OOM ? "M" : "E", 1);
    send(fd, &code, 1);
    const char *m = vc_last_error();
    send(fd, m, strlen(m));
    _exit(1);
}

/* A damaged length in a file can make libhdf5 allocate and fill gigabytes:
 * a variable-length string whose entry states 4 GB has a 4 GB conversion
 * buffer zeroed inside libhdf5 before vclip's allocator for strings is asked
 * (data/h5_reader.c refuses the string itself), and a damaged extent makes
 * an index array (8 bytes a video or caption) as long as it says. The child
 * may map at most CHILD_HEADROOM_BYTES plus the file's size beyond what it
 * inherited: the check of a healthy file needs far less (blocks of 8 MB of
 * rows or 4096 strings, chunk caches of at most 256 MB a dataset, index
 * arrays far smaller than the embeddings they index), and an allocation
 * past it fails as a clean error. The parent's own limit is left as it was. */
void vc_h5_cap_child_memory(uint64_t file_bytes) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = '\0';
    unsigned long long pages = strtoull(buf, NULL, 10);
    long page = sysconf(_SC_PAGESIZE);
    if (!pages || page <= 0) return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return;
    unsigned long long mapped = pages * (unsigned long long)page, extra = CHILD_HEADROOM_BYTES + file_bytes;
    rlim_t want = extra > ~0ull - mapped ? RLIM_INFINITY : (rlim_t)(mapped + extra);
    if (want == RLIM_INFINITY || (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= want)) return;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_AS, &rl);
}

static void child(int fd, const char *path, const vc_h5_check_opts *o, uint64_t file_bytes) {
    /* the parent's fault handlers (tools/ installs some) must not claim
     * this child's crash: it is the parent's to report */
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], SIG_DFL);
    if (o->quiet_child) {
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) dup2(dn, 2);
    }
    vc_h5_cap_child_memory(file_bytes);
    vc_h5 *h = NULL;
    vc_status st = vc_h5_open(&h, path);
    if (st) child_fail(fd, st);
    send(fd, ".", 1);
    if ((st = vc_h5_scan(h, o->values, NULL, child_progress, &fd))) child_fail(fd, st);
    send(fd, "C", 1); /* closing: where a damaged file can make libhdf5 loop */
    vc_h5_close(h);
    send(fd, "D", 1);
    _exit(0);
}

static vc_status check_here(const char *path, const vc_h5_check_opts *o) {
    vc_h5 *h = NULL;
    vc_status st = vc_h5_open(&h, path);
    if (!st) st = vc_h5_scan(h, o->values, NULL, NULL, NULL);
    vc_h5_close(h);
    return st;
}

/* ---- the parent ---- */

vc_status vc_h5_check(const char *path, const vc_h5_check_opts *o, bool *lib_fault) {
    vc_h5_check_opts dflt = {0};
    if (lib_fault) *lib_fault = false;
    if (!o) o = &dflt;
    if (!path) return vc_fail(VC_ERR_ARG, "vc_h5_check: NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return vc_fail(VC_ERR_IO, "%s: not a regular file", path);
    const bool use_cache = o->cache_path && o->cache_path[0];
    char line[PATH_MAX + 256];
    const bool have_line = use_cache && cache_line(line, sizeof line, path, o->values);
    if (have_line && cache_has(o->cache_path, line)) return VC_OK;

    const int stall_s = o->stall_s > 0 ? o->stall_s : 60;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return check_here(path, o);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { /* no process to spare: validate here, unprotected */
        close(fds[0]);
        close(fds[1]);
        return check_here(path, o);
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1], path, o, (uint64_t)sb.st_size);
    }
    close(fds[1]);

    char state = 0;         /* last marker: 0, '.', 'C' (closing), 'D' (done), 'E' (error), 'M' (memory) */
    char msg[1024];
    size_t msg_len = 0;
    int err_code = VC_ERR_FORMAT, stalled = 0;
    bool got_code = false;
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int limit = state == 'C' && CLOSE_GRACE_S < stall_s ? CLOSE_GRACE_S : stall_s;
        int r = poll(&p, 1, limit * 1000);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) { /* no progress: libhdf5 loops on damaged metadata */
            kill(pid, SIGKILL);
            stalled = limit;
            break;
        }
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (state == 'E' || state == 'M') {
                if (!got_code) {
                    err_code = (unsigned char)buf[i];
                    got_code = true;
                } else if (msg_len + 1 < sizeof msg) {
                    msg[msg_len++] = buf[i];
                }
            } else if (buf[i] == 'C' || buf[i] == 'D' || buf[i] == 'E' || buf[i] == 'M') {
                state = buf[i];
            }
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return vc_fail(VC_ERR_IO, "%s: cannot wait for the check process: %s", path, strerror(errno));
    msg[msg_len] = '\0';
    if (state == 'E' || state == 'M') {
        /* 'M': past the child's cap (libhdf5's allocation, or one of the
         * reader's, sized by a damaged field) or a string refused for its
         * stated length: reading the file unguarded would take that memory */
        if (state == 'M' && lib_fault) *lib_fault = true;
        for (char *c = msg; *c; c++)
            if (*c == '\n') *c = ' ';
        if (state == 'M' && err_code == VC_ERR_OOM)
            return vc_fail(VC_ERR_FORMAT, "%s (more than checking it may take, %llu GB plus the file's size: a size "
                                          "the file states is damaged)", msg, CHILD_HEADROOM_BYTES >> 30);
        return vc_fail(err_code > 0 && err_code < 64 ? (vc_status)err_code : VC_ERR_FORMAT, "%s", msg);
    }
    const char *when = state == 'C' ? "closing" : "checking";
    if (lib_fault && (stalled || state != 'D' || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) *lib_fault = true;
    if (stalled)
        return vc_fail(VC_ERR_FORMAT, "%s: corrupt HDF5 file: the HDF5 library stopped responding (no progress in %d s) "
                                      "while %s it", path, stalled, when);
    if (WIFSIGNALED(status))
        return vc_fail(VC_ERR_FORMAT, "%s: corrupt HDF5 file: the HDF5 library crashed (signal %d) while %s it", path,
                       WTERMSIG(status), when);
    if (state != 'D' || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: corrupt HDF5 file: the check process failed (exit status %d) while %s it",
                       path, WIFEXITED(status) ? WEXITSTATUS(status) : -1, when);
    if (have_line) cache_add(o->cache_path, line);
    return VC_OK;
}
