/* limits.c: vclip checks, before anything else runs, that the address-space
 * limit (ulimit -v) leaves room for what OpenBLAS reserves.
 * OpenBLAS (0.3.21) maps a buffer of about 128 MB per thread (one when the
 * library is loaded, the others at the first parallel product), and when
 * such an allocation fails it retries for ever: under a tight `ulimit -v`
 * vclip would hang, before main() even starts, instead of saying why. So
 * this runs from .preinit_array, ahead of every shared library's
 * initialisation: it reserves that much address space and releases it
 * (PROT_NONE, nothing is touched); when it cannot, vclip stops with one
 * line. The commands that compute then run one small threaded product
 * first (vc_cmd_blas_warmup), so that every thread's buffer is taken while
 * that room is known to be there, before the model and the data take
 * theirs: past this point an allocation that fails is an ordinary "out of
 * memory" error of the operation that made it (tests/test_limits.c). */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "commands.h"
#include "tensor/backend.h"

/* Per thread: OpenBLAS's BUFFER_SIZE on x86_64 (128 MB) plus its alignment
 * slack, the thread's stack (8 MB) and the 64 MB of address space glibc's
 * malloc reserves for each thread's arena. Measured: with 2 threads vclip
 * gets through the first product with 400 MB above what the libraries
 * take, and hangs in OpenBLAS with 380 MB. */
#define PER_THREAD_BYTES ((size_t)(129 + 8 + 64) << 20)
/* What a command needs at least besides (model, batches: checked as they come). */
#define MARGIN_BYTES ((size_t)64 << 20)

static void put(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

static void put_num(unsigned long long v) {
    char b[24], *p = b + sizeof b;
    *--p = '\0';
    do *--p = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    put(p);
}

/* OMP_NUM_THREADS' first number, else the processors online: the threads
 * OpenBLAS's OpenMP build runs a product on. */
static long threads(char **envp) {
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, "OMP_NUM_THREADS=", 16) == 0) {
            long n = strtol(*e + 16, NULL, 10);
            if (n > 0) return n;
        }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static void check_address_space(int argc, char **argv, char **envp) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    long t = threads(envp);
    size_t need = (size_t)t * PER_THREAD_BYTES + MARGIN_BYTES;
    void *p = mmap(NULL, need, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, need);
        return;
    }
    put("vclip");
    if (argc > 1 && argv[1] && argv[1][0] != '-') {
        put(" ");
        put(argv[1]);
    }
    put(": the address-space limit (ulimit -v ");
    put_num((unsigned long long)rl.rlim_cur / 1024);
    put(" KB) is too small: vclip needs ");
    put_num(need >> 20);
    put(" MB more than its libraries take (OpenBLAS reserves 128 MB for each of ");
    put_num((unsigned long long)t);
    put(" threads); raise the limit or use fewer threads (OMP_NUM_THREADS)\n");
    _exit(1);
}

__attribute__((section(".preinit_array"), used)) static void (*const vc_preinit)(int, char **, char **) =
    check_address_space;

void vc_cmd_blas_warmup(void) {
    /* large enough for OpenBLAS to use every thread (it splits M and N
     * into blocks of at least a few dozen rows), small enough to take
     * milliseconds; past 8 threads a thread may still start later */
    int t = omp_get_max_threads();
    int64_t N = t <= 2 ? 256 : t >= 8 ? 1024 : 128 * (int64_t)t;
    float *a = calloc((size_t)(3 * N * N), sizeof *a);
    if (!a) return; /* the command's own allocations will say it */
    vc_backend_cpu.gemm(false, false, N, N, N, 1.0f, a, N, a + N * N, N, 0.0f, a + 2 * N * N, N);
    free(a);
}
