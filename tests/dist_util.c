#include "dist_util.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tensor/comm.h"
#include "tensor/safetensors.h"

int vc_test_worker_bad;

double vc_test_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void vc_test_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

pid_t vc_test_spawn(const char *const *argv, const char *out) {
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int vc_test_wait(pid_t pid, double limit_s, const char *what) {
    double t0 = vc_test_now_s();
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        ck_assert(w >= 0);
        if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (vc_test_now_s() - t0 > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("%s did not end within %.0f s", what, limit_s);
        }
        vc_test_sleep_ms(5);
    }
}

pid_t vc_test_rank_pid(pid_t ppid, int rank) {
    char want[48];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    DIR *d = opendir("/proc");
    if (!d) return 0;
    pid_t found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        long pp = -1;
        if (fgets(buf, sizeof buf, f)) {
            const char *rp = strrchr(buf, ')'); /* the name in parentheses may hold spaces */
            if (rp) sscanf(rp + 2, "%*c %ld", &pp);
        }
        fclose(f);
        if (pp != ppid) continue;
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        if (!(f = fopen(path, "r"))) continue;
        static char env[1 << 16]; /* /proc files have no size to read ahead of time */
        size_t got = fread(env, 1, sizeof env - 1, f);
        fclose(f);
        env[got] = '\0';
        for (size_t i = 0; i < got; i += strlen(env + i) + 1)
            if (strcmp(env + i, want) == 0) found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

pid_t vc_test_rank_once_logged(pid_t job, const char *out, const char *dir, int steps, double limit_s, int poll_ms,
                               int rank) {
    double t0 = vc_test_now_s(), l[256];
    while (vc_test_step_losses(dir, l, 256) < steps) {
        if (waitpid(job, NULL, WNOHANG) != 0) {
            char *text = vc_test_read_file(out, NULL);
            ck_abort_msg("the job ended before step %d: %.2000s", steps, text ? text : "(no output)");
        }
        ck_assert_msg(vc_test_now_s() - t0 < limit_s, "no step %d within %.0f s", steps, limit_s);
        vc_test_sleep_ms(poll_ms);
    }
    pid_t pid = vc_test_rank_pid(job, rank);
    ck_assert_msg(pid > 0, "rank %d's process not found among mpirun's children", rank);
    return pid;
}

const char *vc_test_mpi_ready(char *mpirun, size_t n) {
    mpirun[0] = '\0';
    const char *dirs = getenv("PATH");
    for (const char *p = dirs ? dirs : ""; *p && !mpirun[0];) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(mpirun, n, "%.*s/mpirun", (int)len, p);
        if (access(mpirun, X_OK) != 0) mpirun[0] = '\0';
        p += len + (e != NULL);
    }
    if (!mpirun[0]) return "mpirun is not on PATH (Debian openmpi-bin)";
    if (!vc_comm_mpi_version()) return "this build has no MPI (make MPI=1; Debian libopenmpi-dev)";
    if (!vc_test_vclip_bin()) return "VCLIP_BIN is not set (run them with make test)";
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 1);
    const char *asan = getenv("ASAN_OPTIONS");
    if (asan) { /* the suppressions then see Open MPI below its components */
        char opts[2048];
        snprintf(opts, sizeof opts, "%s:fast_unwind_on_malloc=0", asan);
        setenv("ASAN_OPTIONS", opts, 1);
    }
    return NULL;
}

int vc_test_step_losses(const char *dir, double *loss, int max) {
    char path[700];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    char *text = vc_test_read_file(path, NULL);
    if (!text) return 0;
    int n = 0;
    for (char *p = text, *nl; *p && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        cJSON *o = cJSON_Parse(p);
        ck_assert_msg(o, "%s: not JSON: %s", path, p);
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
        if (cJSON_IsString(ev) && strcmp(ev->valuestring, "step") == 0 && n < max) {
            const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
            ck_assert_msg(cJSON_IsNumber(l), "%s: a step line without a loss: %s", path, p);
            loss[n++] = l->valuedouble;
        }
        cJSON_Delete(o);
    }
    free(text);
    return n;
}

double vc_test_ckpt_diff(const char *a, const char *b, bool with_optim, bool *identical, char *worst, size_t n) {
    vc_st_file *fa, *fb;
    ck_assert_msg(vc_st_open(&fa, a, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_st_open(&fb, b, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    double m = 0;
    int compared = 0;
    if (identical) *identical = true;
    for (int i = 0; i < vc_st_count(fa); i++) {
        const vc_st_tensor *ta = vc_st_at(fa, i), *tb = vc_st_find(fb, ta->name);
        if (ta->dtype != VC_ST_F32 || (!with_optim && strncmp(ta->name, "optim.", 6) == 0)) continue;
        ck_assert_msg(tb && tb->nbytes == ta->nbytes, "%s: no tensor '%s' of the same size", b, ta->name);
        compared++;
        if (identical && memcmp(ta->data, tb->data, ta->nbytes) != 0) *identical = false;
        for (int64_t k = 0; k < ta->numel; k++) {
            float x, y;
            memcpy(&x, (const char *)ta->data + 4 * k, 4);
            memcpy(&y, (const char *)tb->data + 4 * k, 4);
            double d = fabs((double)x - y) / fmax(1, fabs(y));
            if (!(d <= m)) {
                m = isnan(d) ? INFINITY : d;
                snprintf(worst, n, "%s[%lld]: %.9g vs %.9g", ta->name, (long long)k, x, y);
            }
        }
    }
    ck_assert_msg(compared > 0, "%s holds no %s", a, with_optim ? "float32 tensors" : "parameters");
    vc_st_close(fa);
    vc_st_close(fb);
    return m;
}

void vc_test_assert_same_ckpts(const char *dir_a, const char *dir_b, const char *what) {
    const char *files[2] = {"last.safetensors", "best.safetensors"};
    for (int k = 0; k < 2; k++) {
        char pa[800], pb[800];
        snprintf(pa, sizeof pa, "%s/%s", dir_a, files[k]);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, files[k]);
        vc_st_file *fa, *fb;
        ck_assert_msg(vc_st_open(&fa, pa, VC_ST_READ) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(vc_st_open(&fb, pb, VC_ST_READ) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(vc_st_count(fa), vc_st_count(fb));
        ck_assert_int_gt(vc_st_count(fa), 1);
        for (int i = 0; i < vc_st_count(fa); i++) {
            const vc_st_tensor *ta = vc_st_at(fa, i), *tb = vc_st_find(fb, ta->name);
            ck_assert_msg(tb && tb->nbytes == ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0,
                          "%s: tensor '%s' differs from %s", files[k], ta->name, what);
        }
        vc_st_close(fa);
        vc_st_close(fb);
    }
}
