/* emu_runtime.cc: the emulated CUDA runtime (declared in emu_runtime.h).
 * Owns: device memory (guarded host allocations and their registry), copies
 * and their direction checks, streams, events, stream capture and graph
 * replay, launch-configuration checks, the per-thread last error, device
 * properties, counters, and the fatal report used by every emulator file.
 * Work (a kernel, a copy, a host function, a cuBLAS product) runs when it is
 * issued, one at a time, under g_run; on a capturing stream it is appended
 * to the capture instead. g_mu guards the registry and the stream, event and
 * capture state, and is never held while work runs.
 * Not here: how blocks run (emu_sched.cc), cuBLAS (emu_cublas.cc). */
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "tensor/cuda/emu_internal.h"

namespace {

struct Node {
    vc_emu::WorkKind kind;
    std::string what;
    std::function<void()> work;
};
using NodeList = std::vector<std::shared_ptr<const Node>>;

struct Capture {
    cudaStream_t origin;
    int mode;
    std::thread::id thread;
    bool invalid = false;
    std::string invalid_why;
    NodeList nodes;
    std::vector<vc_emu_stream *> joined;
};

}  // namespace

struct vc_emu_stream {
    unsigned flags = 0;
    bool legacy = false;
    Capture *cap = nullptr;
    long long seq = 0;        /* work captured on this stream */
    long long joined_seq = 0; /* seq at the last event the origin waited on */
};
struct vc_emu_event {
    unsigned flags = 0;
    bool recorded = false;
    double ms = 0;
    Capture *cap = nullptr; /* recorded during this capture */
    vc_emu_stream *stream = nullptr;
    long long seq = 0;
};
struct vc_emu_graph {
    NodeList nodes;
};
struct vc_emu_graph_exec {
    NodeList nodes;
};

namespace vc_emu {

namespace {

std::mutex g_mu;
std::recursive_mutex g_run;
std::map<uintptr_t, size_t> g_dev;  /* device allocations: start -> bytes */
std::map<uintptr_t, size_t> g_host; /* cudaMallocHost allocations */
std::set<vc_emu_stream *> g_streams;
std::set<vc_emu_event *> g_events;
std::set<Capture *> g_captures;
std::map<const void *, int> g_dyn_limit; /* cudaFuncAttributeMaxDynamicSharedMemorySize */
vc_emu_stream g_legacy_stream = [] {
    vc_emu_stream s;
    s.legacy = true;
    return s;
}();
vc_emu_stream g_per_thread_stream;
vc_emu_counters g_count;
const auto g_t0 = std::chrono::steady_clock::now();

thread_local cudaError_t t_last = cudaSuccess;
thread_local std::string t_detail;
thread_local int t_device = 0;

constexpr size_t kStaticShared = 48 * 1024;
constexpr size_t kOptinShared = 232448; /* an H100's opt-in limit per block */
constexpr size_t kFront = 256, kCanary = 64;

bool env_flag(const char *name, bool dflt) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    return strcmp(s, "0") != 0;
}

size_t mem_limit() {
    const char *s = getenv("VC_CUDA_EMU_MEM_MB");
    size_t mb = s && *s ? strtoull(s, nullptr, 10) : 81920;
    return mb * 1024 * 1024;
}

double now_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_t0).count(); }

cudaError_t fail(cudaError_t e, const char *f, ...) __attribute__((format(printf, 2, 3)));
cudaError_t fail(cudaError_t e, const char *f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    t_last = e;
    t_detail = buf;
    if (env_flag("VC_CUDA_EMU_VERBOSE", false)) fprintf(stderr, "vc-cuda-emu: %s (%s)\n", buf, cudaGetErrorName(e));
    return e;
}

cudaError_t ok() { return cudaSuccess; }

/* Caller holds g_mu. The stream object, or null for a handle that is not live. */
vc_emu_stream *resolve(cudaStream_t s) {
    if (s == nullptr || s == cudaStreamLegacy) return &g_legacy_stream;
    if (s == cudaStreamPerThread) return &g_per_thread_stream;
    return g_streams.count(s) ? s : nullptr;
}

void invalidate(Capture *c, const std::string &why) {
    if (!c->invalid) {
        c->invalid = true;
        c->invalid_why = why;
    }
}

/* Caller holds g_mu. As CUDA: while a capture in Global mode runs anywhere,
 * or one in ThreadLocal mode on this thread, a call that may synchronise
 * implicitly fails and invalidates that capture. */
cudaError_t check_unsafe_during_capture(const char *call) {
    for (Capture *c : g_captures) {
        bool applies = c->mode == cudaStreamCaptureModeGlobal ||
                       (c->mode == cudaStreamCaptureModeThreadLocal && c->thread == std::this_thread::get_id());
        if (applies) {
            invalidate(c, std::string(call) + " during capture");
            return fail(cudaErrorStreamCaptureUnsupported, "%s while a stream captures (mode %s)", call,
                        c->mode == cudaStreamCaptureModeGlobal ? "global" : "thread-local");
        }
    }
    return cudaSuccess;
}

cudaError_t check_device(const char *call) {
    if (device_count() == 0)
        return fail(cudaErrorNoDevice, "%s: no device (VC_CUDA_EMU_DEVICES=0)", call);
    return cudaSuccess;
}

/* Caller holds g_mu. */
bool in_dev_locked(uintptr_t a, size_t bytes) {
    auto it = g_dev.upper_bound(a);
    if (it == g_dev.begin()) return false;
    --it;
    return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}
bool overlaps_dev_locked(uintptr_t a, size_t bytes) {
    auto it = g_dev.lower_bound(a + bytes);
    if (it == g_dev.begin()) return false;
    --it;
    return it->first + it->second > a && bytes > 0;
}

const char *kind_name(int kind) {
    switch (kind) {
    case cudaMemcpyHostToHost: return "HostToHost";
    case cudaMemcpyHostToDevice: return "HostToDevice";
    case cudaMemcpyDeviceToHost: return "DeviceToHost";
    case cudaMemcpyDeviceToDevice: return "DeviceToDevice";
    case cudaMemcpyDefault: return "Default";
    default: return "?";
    }
}

/* Caller holds g_mu. Each side of a copy must be what the kind says. */
cudaError_t check_copy(const char *call, void *dst, const void *src, size_t bytes, int kind) {
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
        return fail(cudaErrorInvalidMemcpyDirection, "%s: copy kind %d", call, kind);
    if (!dst || !src) return fail(cudaErrorInvalidValue, "%s: null %s", call, dst ? "src" : "dst");
    if (kind == cudaMemcpyDefault) return cudaSuccess;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    struct {
        const char *name;
        const void *p;
        bool dev;
    } sides[2] = {{"dst", dst, dst_dev}, {"src", src, src_dev}};
    for (auto &s : sides) {
        uintptr_t a = (uintptr_t)s.p;
        if (s.dev && !in_dev_locked(a, bytes))
            return fail(cudaErrorInvalidValue, "%s %s: %s [%p, +%zu bytes) is not inside one device allocation", call,
                        kind_name(kind), s.name, s.p, bytes);
        if (!s.dev && overlaps_dev_locked(a, bytes))
            return fail(cudaErrorInvalidValue, "%s %s: %s %p is device memory", call, kind_name(kind), s.name, s.p);
    }
    return cudaSuccess;
}

unsigned char canary(size_t i);

/* ---- VC_CUDA_EMU_PROTECT=1: device memory the host cannot touch ----
 * Device allocations are then their own mappings, kept PROT_NONE except
 * while emulated device work (a kernel, a copy, a memset, a cuBLAS call)
 * runs, so host code that reads or writes device memory directly faults at
 * the access, as it would on a GPU (where it reads garbage or faults). The
 * canaries stay, checked here also in an ASan build. Guarded by g_mu. */
struct ProtMap {
    void *base;
    size_t len;
};
std::map<uintptr_t, ProtMap> g_prot; /* device pointer -> its mapping */
int g_open = 0;                      /* device work running (nesting depth) */

void prot_set_locked(int prot) {
    for (auto &a : g_prot)
        if (mprotect(a.second.base, a.second.len, prot) != 0) die("VC_CUDA_EMU_PROTECT: mprotect failed");
}

void *prot_alloc_locked(size_t bytes, bool poison) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (bytes > SIZE_MAX - kFront - kCanary - page) return nullptr;
    size_t len = (kFront + bytes + kCanary + page - 1) / page * page;
    void *base = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    unsigned char *u = (unsigned char *)base + kFront;
    for (size_t i = 0; i < kCanary; i++) {
        u[i - kCanary] = canary(i);
        u[bytes + i] = canary(kCanary + i);
    }
    if (poison) memset(u, 0xff, bytes);
    if (g_open == 0 && mprotect(base, len, PROT_NONE) != 0) die("VC_CUDA_EMU_PROTECT: mprotect failed");
    g_prot[(uintptr_t)u] = ProtMap{base, len};
    return u;
}

/* The canaries of a protected allocation (its mapping made readable). */
bool prot_intact_locked(uintptr_t p, size_t bytes, long long *offset) {
    auto it = g_prot.find(p);
    if (g_open == 0) mprotect(it->second.base, it->second.len, PROT_READ);
    const unsigned char *u = (const unsigned char *)p;
    bool ok = true;
    for (size_t i = 0; i < kCanary && ok; i++)
        if (u[i - kCanary] != canary(i)) *offset = (long long)i - (long long)kCanary, ok = false;
    for (size_t i = 0; i < kCanary && ok; i++)
        if (u[bytes + i] != canary(kCanary + i)) *offset = (long long)(bytes + i), ok = false;
    if (g_open == 0) mprotect(it->second.base, it->second.len, PROT_NONE);
    return ok;
}

/* Opens device memory to the host thread running device work, and closes it. */
bool prot_open() {
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_prot.empty() && g_open == 0) return false;
    if (g_open++ == 0) prot_set_locked(PROT_READ | PROT_WRITE);
    return true;
}

void prot_close() {
    std::lock_guard<std::mutex> lk(g_mu);
    if (--g_open == 0) prot_set_locked(PROT_NONE);
}

void check_canaries_after(const char *what) {
    std::lock_guard<std::mutex> lk(g_mu);
    long long off;
    for (auto &a : g_dev) {
        bool ok = g_prot.count(a.first) ? prot_intact_locked(a.first, a.second, &off)
                                         : guarded_intact((const void *)a.first, a.second, &off);
        if (!ok)
            die("%s wrote outside the %zu-byte device allocation at %p: byte %lld (from its start) was changed", what,
                a.second, (void *)a.first, off);
    }
}

unsigned char canary(size_t i) { return (unsigned char)(0x5a ^ (i * 37u)); }

}  // namespace

void die(const char *f, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    fprintf(stderr, "vc-cuda-emu: %s\n", buf);
    fflush(stderr);
    abort();
}

void *guarded_alloc(size_t bytes, size_t align, bool poison) {
    void *p = nullptr;
#if VC_EMU_ASAN
    if (align < sizeof(void *)) align = sizeof(void *);
    if (posix_memalign(&p, align, bytes) != 0) return nullptr;
#else
    (void)align;
    void *base;
    if (bytes > SIZE_MAX - kFront - kCanary || posix_memalign(&base, 256, kFront + bytes + kCanary) != 0) return nullptr;
    unsigned char *u = (unsigned char *)base + kFront;
    for (size_t i = 0; i < kCanary; i++) {
        u[i - kCanary] = canary(i);
        u[bytes + i] = canary(kCanary + i);
    }
    p = u;
#endif
    if (poison && p) memset(p, 0xff, bytes);
    return p;
}

bool guarded_intact(const void *p, size_t bytes, long long *offset) {
#if VC_EMU_ASAN
    (void)p, (void)bytes, (void)offset;
    return true;
#else
    if (!p) return true;
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < kCanary; i++) {
        if (u[i - kCanary] != canary(i)) {
            *offset = (long long)i - (long long)kCanary;
            return false;
        }
    }
    for (size_t i = 0; i < kCanary; i++) {
        if (u[bytes + i] != canary(kCanary + i)) {
            *offset = (long long)(bytes + i);
            return false;
        }
    }
    return true;
#endif
}

void guarded_free(void *p) {
    if (!p) return;
#if VC_EMU_ASAN
    free(p);
#else
    free((unsigned char *)p - kFront);
#endif
}

int device_count() {
    const char *s = getenv("VC_CUDA_EMU_DEVICES");
    if (!s || !*s) return 1;
    int n = atoi(s);
    return n < 0 ? 0 : n;
}

bool in_device_allocation(const void *p, size_t bytes) {
    std::lock_guard<std::mutex> lk(g_mu);
    return in_dev_locked((uintptr_t)p, bytes);
}

void count_gemms(long long n) {
    std::lock_guard<std::mutex> lk(g_mu);
    g_count.gemms += n;
}

cudaError_t enqueue(cudaStream_t stream, WorkKind kind, const char *what, std::function<void()> work) {
    {
        std::lock_guard<std::mutex> lk(g_mu);
        if (device_count() == 0) return fail(cudaErrorNoDevice, "%s: no device (VC_CUDA_EMU_DEVICES=0)", what);
        vc_emu_stream *s = resolve(stream);
        if (!s) return fail(cudaErrorInvalidResourceHandle, "%s: stream %p is not a live stream", what, (void *)stream);
        if (s->cap) {
            if (s->cap->invalid)
                return fail(cudaErrorStreamCaptureInvalidated, "%s: the capture was invalidated (%s)", what,
                            s->cap->invalid_why.c_str());
            s->cap->nodes.push_back(std::make_shared<const Node>(Node{kind, what, std::move(work)}));
            s->seq++;
            return cudaSuccess;
        }
        if (s->legacy)
            for (Capture *c : g_captures)
                if (!(c->origin->flags & cudaStreamNonBlocking)) {
                    invalidate(c, std::string(what) + " on the legacy stream");
                    return fail(cudaErrorStreamCaptureImplicit,
                                "%s on the legacy default stream while a blocking stream captures", what);
                }
    }
    std::lock_guard<std::recursive_mutex> run(g_run);
    bool opened = kind != WORK_HOST && prot_open(); /* a host function stays host code */
    work();
    if (opened) prot_close();
    return cudaSuccess;
}

void enqueue_kernel(const char *name, const void *fn, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                    KernelFn body) {
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!block.x || !block.y || !block.z || block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024 ||
        !grid.x || !grid.y || !grid.z || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
        fail(cudaErrorInvalidConfiguration, "kernel %s: grid (%u,%u,%u) block (%u,%u,%u)", name, grid.x, grid.y,
             grid.z, block.x, block.y, block.z);
        return;
    }
    size_t limit = kStaticShared;
    {
        std::lock_guard<std::mutex> lk(g_mu);
        auto it = g_dyn_limit.find(fn);
        if (it != g_dyn_limit.end() && (size_t)it->second > limit) limit = (size_t)it->second;
    }
    if (shmem > limit) {
        fail(cudaErrorInvalidValue, "kernel %s: %zu bytes of dynamic shared memory, above the %zu allowed", name, shmem,
             limit);
        return;
    }
    auto fnp = std::make_shared<KernelFn>(std::move(body));
    KernelRun run{name, grid, block, shmem, limit, nullptr};
    std::string what = std::string("kernel ") + name;
    enqueue(stream, WORK_KERNEL, name, [run, fnp, what]() {
        KernelRun r = run;
        r.body = fnp.get();
        run_kernel(r);
        {
            std::lock_guard<std::mutex> lk(g_mu);
            g_count.kernels++;
            g_count.blocks += (long long)r.grid.x * r.grid.y * r.grid.z;
        }
        check_canaries_after(what.c_str());
    });
}

}  // namespace vc_emu

using namespace vc_emu;

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: null count");
    *count = device_count();
    if (*count == 0) return fail(cudaErrorNoDevice, "cudaGetDeviceCount: no device (VC_CUDA_EMU_DEVICES=0)");
    return ok();
}

cudaError_t cudaSetDevice(int device) {
    if (cudaError_t e = check_device("cudaSetDevice")) return e;
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaSetDevice(%d): %d device(s)", device, device_count());
    t_device = device;
    return ok();
}

cudaError_t cudaGetDevice(int *device) {
    if (cudaError_t e = check_device("cudaGetDevice")) return e;
    if (!device) return fail(cudaErrorInvalidValue, "cudaGetDevice: null pointer");
    *device = t_device;
    return ok();
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    if (cudaError_t e = check_device("cudaGetDeviceProperties")) return e;
    if (!p) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: null pointer");
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties(%d): %d device(s)", device, device_count());
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "vclip CUDA emulator (CPU)");
    p->totalGlobalMem = mem_limit();
    p->sharedMemPerBlock = kStaticShared;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->totalConstMem = 65536;
    p->major = 9;
    p->minor = 0;
    p->multiProcessorCount = 132;
    p->l2CacheSize = 50 * 1024 * 1024;
    p->maxThreadsPerMultiProcessor = 2048;
    p->sharedMemPerMultiprocessor = 233472;
    p->sharedMemPerBlockOptin = kOptinShared;
    return ok();
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    struct cudaDeviceProp p;
    if (cudaError_t e = cudaGetDeviceProperties(&p, device)) return e;
    if (!value) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null pointer");
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = (int)p.sharedMemPerMultiprocessor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
    default: return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr);
    }
    return ok();
}

cudaError_t cudaDeviceSynchronize(void) {
    if (cudaError_t e = check_device("cudaDeviceSynchronize")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    return check_unsafe_during_capture("cudaDeviceSynchronize");
}

cudaError_t cudaRuntimeGetVersion(int *v) {
    if (!v) return fail(cudaErrorInvalidValue, "cudaRuntimeGetVersion: null pointer");
    *v = 13000;
    return ok();
}

cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return fail(cudaErrorInvalidValue, "cudaDriverGetVersion: null pointer");
    *v = 13000;
    return ok();
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    if (cudaError_t e = check_device("cudaMemGetInfo")) return e;
    if (!free_bytes || !total_bytes) return fail(cudaErrorInvalidValue, "cudaMemGetInfo: null pointer");
    std::lock_guard<std::mutex> lk(g_mu);
    *total_bytes = mem_limit();
    *free_bytes = *total_bytes > g_count.live_bytes ? *total_bytes - g_count.live_bytes : 0;
    return ok();
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return t_last; }

const char *cudaGetErrorString(cudaError_t error) {
#define VC_EMU_STR(name, value, text) \
    case name: return text;
    switch (error) { VC_EMU_CUDA_ERRORS(VC_EMU_STR) }
#undef VC_EMU_STR
    return "unrecognized error code";
}

const char *cudaGetErrorName(cudaError_t error) {
#define VC_EMU_NAME(name, value, text) \
    case name: return #name;
    switch (error) { VC_EMU_CUDA_ERRORS(VC_EMU_NAME) }
#undef VC_EMU_NAME
    return "unrecognized error code";
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) {
    if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null pointer");
    if (cudaError_t e = check_device("cudaMalloc")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    if (cudaError_t e = check_unsafe_during_capture("cudaMalloc")) return e;
    *ptr = nullptr;
    if (bytes == 0) return ok();
    if (bytes > mem_limit() - std::min(mem_limit(), g_count.live_bytes))
        return fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): %zu of %zu bytes in use", bytes, g_count.live_bytes,
                    mem_limit());
    bool poison = env_flag("VC_CUDA_EMU_POISON", true);
    void *p = env_flag("VC_CUDA_EMU_PROTECT", false) ? prot_alloc_locked(bytes, poison) : guarded_alloc(bytes, 256, poison);
    if (!p) return fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): host allocation failed", bytes);
    g_dev[(uintptr_t)p] = bytes;
    g_count.mallocs++;
    g_count.live_bytes += bytes;
    if (g_count.live_bytes > g_count.peak_bytes) g_count.peak_bytes = g_count.live_bytes;
    *ptr = p;
    return ok();
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return ok();
    std::lock_guard<std::mutex> lk(g_mu);
    if (cudaError_t e = check_unsafe_during_capture("cudaFree")) return e;
    auto it = g_dev.find((uintptr_t)ptr);
    if (it == g_dev.end())
        return fail(cudaErrorInvalidValue, "cudaFree(%p): not a pointer cudaMalloc returned (or freed twice)", ptr);
    long long off;
    auto pm = g_prot.find((uintptr_t)ptr);
    bool intact = pm != g_prot.end() ? prot_intact_locked((uintptr_t)ptr, it->second, &off)
                                     : guarded_intact(ptr, it->second, &off);
    if (!intact)
        die("cudaFree: the %zu-byte device allocation at %p was written outside its bounds: byte %lld was changed",
            it->second, ptr, off);
    g_count.frees++;
    g_count.live_bytes -= it->second;
    g_dev.erase(it);
    if (pm != g_prot.end()) {
        munmap(pm->second.base, pm->second.len);
        g_prot.erase(pm);
    } else {
        guarded_free(ptr);
    }
    return ok();
}

cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int flags) {
    (void)flags;
    if (!ptr) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null pointer");
    if (cudaError_t e = check_device("cudaHostAlloc")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    if (cudaError_t e = check_unsafe_during_capture("cudaHostAlloc")) return e;
    void *p = nullptr;
    if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0)
        return fail(cudaErrorMemoryAllocation, "cudaHostAlloc(%zu): host allocation failed", bytes);
    g_host[(uintptr_t)p] = bytes;
    *ptr = p;
    return ok();
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void *ptr) {
    if (!ptr) return ok();
    std::lock_guard<std::mutex> lk(g_mu);
    if (cudaError_t e = check_unsafe_during_capture("cudaFreeHost")) return e;
    auto it = g_host.find((uintptr_t)ptr);
    if (it == g_host.end()) return fail(cudaErrorInvalidValue, "cudaFreeHost(%p): not from cudaMallocHost", ptr);
    g_host.erase(it);
    free(ptr);
    return ok();
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t stream) {
    if (cudaError_t e = check_device("cudaMemcpyAsync")) return e;
    if (bytes == 0) return ok();
    {
        std::lock_guard<std::mutex> lk(g_mu);
        if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, kind)) return e;
    }
    return enqueue(stream, WORK_COPY, "cudaMemcpyAsync", [dst, src, bytes]() {
        memmove(dst, src, bytes);
        std::lock_guard<std::mutex> lk(g_mu);
        g_count.copies++;
    });
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind) {
    {
        if (cudaError_t e = check_device("cudaMemcpy")) return e;
        std::lock_guard<std::mutex> lk(g_mu);
        if (cudaError_t e = check_unsafe_during_capture("cudaMemcpy")) return e;
    }
    return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream) {
    if (cudaError_t e = check_device("cudaMemsetAsync")) return e;
    if (bytes == 0) return ok();
    {
        std::lock_guard<std::mutex> lk(g_mu);
        if (!in_dev_locked((uintptr_t)dst, bytes))
            return fail(cudaErrorInvalidValue, "cudaMemset: [%p, +%zu bytes) is not inside one device allocation", dst,
                        bytes);
    }
    return enqueue(stream, WORK_COPY, "cudaMemsetAsync", [dst, value, bytes]() {
        memset(dst, value, bytes);
        std::lock_guard<std::mutex> lk(g_mu);
        g_count.copies++;
    });
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
    {
        if (cudaError_t e = check_device("cudaMemset")) return e;
        std::lock_guard<std::mutex> lk(g_mu);
        if (cudaError_t e = check_unsafe_during_capture("cudaMemset")) return e;
    }
    return cudaMemsetAsync(dst, value, bytes, nullptr);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
    if (!stream) return fail(cudaErrorInvalidValue, "cudaStreamCreate: null pointer");
    if (cudaError_t e = check_device("cudaStreamCreate")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = new vc_emu_stream;
    s->flags = flags;
    g_streams.insert(s);
    *stream = s;
    return ok();
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_streams.count(stream))
        return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy(%p): not a live stream", (void *)stream);
    if (stream->cap)
        return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamDestroy(%p): the stream is capturing",
                    (void *)stream);
    g_streams.erase(stream);
    delete stream;
    return ok();
}

static cudaError_t sync_stream(const char *call, cudaStream_t stream) {
    if (cudaError_t e = check_device(call)) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle, "%s(%p): not a live stream", call, (void *)stream);
    if (s->cap) {
        invalidate(s->cap, std::string(call) + " on the capturing stream");
        return fail(cudaErrorStreamCaptureUnsupported, "%s on a capturing stream", call);
    }
    return ok();
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) { return sync_stream("cudaStreamSynchronize", stream); }
cudaError_t cudaStreamQuery(cudaStream_t stream) { return sync_stream("cudaStreamQuery", stream); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
    if (!event) return fail(cudaErrorInvalidValue, "cudaEventCreate: null pointer");
    if (cudaError_t e = check_device("cudaEventCreate")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_event *e = new vc_emu_event;
    e->flags = flags;
    g_events.insert(e);
    *event = e;
    return ok();
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_events.erase(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy(%p): not a live event", (void *)event);
    delete event;
    return ok();
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_events.count(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord(%p): not a live event", (void *)event);
    vc_emu_stream *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: stream %p is not live", (void *)stream);
    event->recorded = true;
    event->stream = s;
    event->cap = s->cap;
    event->seq = s->seq;
    if (!s->cap) event->ms = now_ms();
    return ok();
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
    (void)flags;
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = resolve(stream);
    if (!s || !g_events.count(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: stream %p or event %p is not live",
                    (void *)stream, (void *)event);
    Capture *c = event->cap && g_captures.count(event->cap) ? event->cap : nullptr;
    if (!c) return ok(); /* work before the event has already run */
    if (!s->cap) {        /* s joins the capture: its work is recorded from now on */
        if (s->legacy) return fail(cudaErrorStreamCaptureImplicit, "cudaStreamWaitEvent: the legacy stream cannot join a capture");
        s->cap = c;
        s->seq = s->joined_seq = 0;
        c->joined.push_back(s);
    } else if (s->cap != c) {
        invalidate(c, "two captures merged");
        return fail(cudaErrorStreamCaptureMerge, "cudaStreamWaitEvent: the event belongs to another capture");
    } else if (event->stream != s) {
        event->stream->joined_seq = std::max(event->stream->joined_seq, event->seq);
    }
    return ok();
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!g_events.count(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize(%p): not a live event", (void *)event);
    if (event->cap && g_captures.count(event->cap))
        return fail(cudaErrorCapturedEvent, "cudaEventSynchronize: the event was recorded in a running capture");
    return ok();
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    std::lock_guard<std::mutex> lk(g_mu);
    if (!ms) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null pointer");
    if (!g_events.count(start) || !g_events.count(end))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not live");
    for (vc_emu_event *e : {start, end})
        if ((e->flags & cudaEventDisableTiming) || !e->recorded || e->cap)
            return fail(cudaErrorInvalidResourceHandle,
                        "cudaEventElapsedTime: an event was not recorded outside a capture or has timing disabled");
    *ms = (float)(end->ms - start->ms);
    return ok();
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *user_data) {
    if (!fn) return fail(cudaErrorInvalidValue, "cudaLaunchHostFunc: null function");
    return enqueue(stream, WORK_HOST, "cudaLaunchHostFunc", [fn, user_data]() { fn(user_data); });
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode) {
    if (cudaError_t e = check_device("cudaStreamBeginCapture")) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: stream %p is not live", (void *)stream);
    if (s->legacy) return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture: the legacy stream cannot capture");
    if (s->cap) return fail(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream already captures");
    if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
        mode != cudaStreamCaptureModeRelaxed)
        return fail(cudaErrorInvalidValue, "cudaStreamBeginCapture: mode %d", (int)mode);
    Capture *c = new Capture;
    c->origin = s;
    c->mode = mode;
    c->thread = std::this_thread::get_id();
    g_captures.insert(c);
    s->cap = c;
    s->seq = s->joined_seq = 0;
    return ok();
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph) {
    if (!graph) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: null graph pointer");
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle, "cudaStreamEndCapture: stream %p is not live", (void *)stream);
    Capture *c = s->cap;
    if (!c) return fail(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not capturing");
    if (c->origin != s) return fail(cudaErrorStreamCaptureUnmatched, "cudaStreamEndCapture: not the stream that began the capture");
    if (c->mode != cudaStreamCaptureModeRelaxed && c->thread != std::this_thread::get_id())
        return fail(cudaErrorStreamCaptureWrongThread, "cudaStreamEndCapture: called from another thread");
    *graph = nullptr;
    vc_emu_stream *unjoined = nullptr;
    for (vc_emu_stream *j : c->joined) {
        if (j->seq > j->joined_seq && !unjoined) unjoined = j;
        j->cap = nullptr;
    }
    s->cap = nullptr;
    g_captures.erase(c);
    std::unique_ptr<Capture> own(c);
    if (c->invalid)
        return fail(cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture: the capture was invalidated (%s)",
                    c->invalid_why.c_str());
    if (unjoined)
        return fail(cudaErrorStreamCaptureUnjoined,
                    "cudaStreamEndCapture: stream %p has work the capturing stream never waited for", (void *)unjoined);
    *graph = new vc_emu_graph{std::move(c->nodes)};
    return ok();
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status) {
    if (!status) return fail(cudaErrorInvalidValue, "cudaStreamIsCapturing: null pointer");
    std::lock_guard<std::mutex> lk(g_mu);
    vc_emu_stream *s = resolve(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle, "cudaStreamIsCapturing: stream %p is not live", (void *)stream);
    *status = !s->cap ? cudaStreamCaptureStatusNone
                      : s->cap->invalid ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
    return ok();
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count) {
    if (!graph || !count) return fail(cudaErrorInvalidValue, "cudaGraphGetNodes: null argument");
    if (nodes) {
        size_t n = std::min(*count, graph->nodes.size());
        for (size_t i = 0; i < n; i++) nodes[i] = (cudaGraphNode_t)(const void *)graph->nodes[i].get();
        *count = n;
    } else {
        *count = graph->nodes.size();
    }
    return ok();
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags) {
    (void)flags;
    if (!exec || !graph) return fail(cudaErrorInvalidValue, "cudaGraphInstantiate: null argument");
    *exec = new vc_emu_graph_exec{graph->nodes};
    return ok();
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return fail(cudaErrorInvalidValue, "cudaGraphLaunch: null graph");
    for (const auto &n : exec->nodes)
        if (cudaError_t e = enqueue(stream, n->kind, n->what.c_str(), n->work)) return e;
    std::lock_guard<std::mutex> lk(g_mu);
    g_count.graph_launches++;
    return ok();
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return ok();
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return ok();
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
    if (!func) return fail(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null function");
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute %d is not emulated", (int)attr);
    if (value < 0 || (size_t)value > kOptinShared)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: %d bytes of dynamic shared memory (at most %zu)",
                    value, kOptinShared);
    std::lock_guard<std::mutex> lk(g_mu);
    g_dyn_limit[func] = value;
    return ok();
}

void vc_emu_get_counters(struct vc_emu_counters *out) {
    std::lock_guard<std::mutex> lk(g_mu);
    *out = g_count;
}

const char *vc_emu_last_detail(void) { return t_detail.c_str(); }

}  // extern "C"
