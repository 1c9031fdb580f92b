/* emu_sched.cc: runs an emulated kernel's blocks on the CPU.
 * Owns: the CUDA threads of a block and their scheduling, __syncthreads and
 * the warp operations (with their rule checks), block shared memory.
 * Two builds:
 * - fibers (default): blocks one after another on the calling thread; each
 *   CUDA thread of a block is a fiber with its own small stack, run
 *   round-robin; a barrier or warp operation is a switch back to the
 *   scheduler. Deterministic. Switches are a few instructions of assembly
 *   on x86-64 (glibc's swapcontext makes two system calls per switch, ten
 *   times slower); elsewhere, or with -DVC_CUDA_EMU_UCONTEXT, ucontext.
 *   ASan is told about every switch so that it follows the fiber stacks.
 * - OS threads (-DVC_CUDA_EMU_THREADS, for ThreadSanitizer): one thread per
 *   CUDA thread, VC_CUDA_EMU_BLOCKS blocks (default 2) at a time, barriers
 *   built on a mutex and condition variables, so that TSan sees exactly the
 *   ordering CUDA guarantees and reports a missing __syncthreads as a race.
 * Both share one state machine per block: a thread runs, waits at a block
 * barrier, waits at a warp operation, or is done; the last arrival releases
 * the others; no running thread left with some not done is a deadlock.
 * Under TSan the block mutex that guards that state would order every pair
 * of threads that touch it (a thread's exit before another's next shared
 * lookup, say) and hide the races CUDA does not order. So TSan is told to
 * ignore that mutex and the bookkeeping under it, and is given exactly the
 * orderings CUDA promises: all arrivals at a __syncthreads before every
 * departure from it, the lanes of a warp call before each of them goes on,
 * a shared variable's allocation before its use, every exit of a block
 * before its shared memory is freed.
 * Not here: launch checks, streams and capture (emu_runtime.cc). */
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/emu_internal.h"

#if defined(__SANITIZE_THREAD__) && !defined(VC_CUDA_EMU_THREADS)
#error "a ThreadSanitizer build of the CUDA emulator needs -DVC_CUDA_EMU_THREADS (fibers hide every race)"
#endif

#ifdef VC_CUDA_EMU_THREADS
#include <condition_variable>
#include <thread>
#if defined(__SANITIZE_THREAD__)
#define VC_EMU_TSAN 1
extern "C" {
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
}
#endif
#else
#if VC_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__x86_64__) && !defined(VC_CUDA_EMU_UCONTEXT)
#define VC_EMU_ASM_SWITCH 1
#else
#define VC_EMU_ASM_SWITCH 0
#include <ucontext.h>
#endif
#endif

namespace vc_emu {

__thread ThreadCtx *tls_ctx;

namespace {

enum State : unsigned char { RUNNING, WAIT_BLOCK, WAIT_WARP, DONE };

#ifndef VC_CUDA_EMU_THREADS
#if VC_EMU_ASM_SWITCH
/* vc_emu_ctx_switch(&save_sp, new_sp): pushes the callee-saved registers,
 * MXCSR and the x87 control word, saves the stack pointer, loads the other
 * one and pops the same set from it. */
extern "C" void vc_emu_ctx_switch(void **save_sp, void *new_sp);
asm(R"(
    .text
    .p2align 4
    .type vc_emu_ctx_switch,@function
vc_emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size vc_emu_ctx_switch, .-vc_emu_ctx_switch
)");
struct SwitchCtx {
    void *sp = nullptr;
};
/* A frame that vc_emu_ctx_switch pops into entry(): control words, six
 * zero registers, entry as the return address, then a zero return address
 * for entry itself, which must find rsp = 8 (mod 16) as after a call. */
void ctx_prepare(SwitchCtx &c, char *stack, size_t size, void (*entry)()) {
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *s = (uint64_t *)(top - 72);
    uint32_t mxcsr = __builtin_ia32_stmxcsr();
    uint16_t fpucw;
    asm volatile("fnstcw %0" : "=m"(fpucw));
    s[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    for (int i = 1; i <= 6; i++) s[i] = 0;
    s[7] = (uint64_t)(uintptr_t)entry;
    s[8] = 0;
    c.sp = s;
}
inline void ctx_switch(SwitchCtx &from, SwitchCtx &to) { vc_emu_ctx_switch(&from.sp, to.sp); }
#else
struct SwitchCtx {
    ucontext_t uc;
};
void ctx_prepare(SwitchCtx &c, char *stack, size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
inline void ctx_switch(SwitchCtx &from, SwitchCtx &to) { swapcontext(&from.uc, &to.uc); }
#endif
#endif

struct Block;

struct Fiber : ThreadCtx {
    Block *block = nullptr;
    unsigned linear = 0;
    State state = DONE;
    /* where it waits */
    const char *file = nullptr;
    int line = 0;
    /* block barrier */
    int bar_kind = 0, pred = 0, result = 0;
    /* warp operation */
    int op = 0, param = 0, width = 32;
    unsigned mask = 0;
    uint64_t value = 0, wresult = 0;
    /* TSan orderings (see the top): the lane's release object for each of
     * two successive warp calls, and which ones its partners used */
    unsigned nsync = 0, acq_slots = 0;
    unsigned char arrive_slot = 0, bar_slot = 0;
    char tsan_obj[2] = {0, 0};
#ifdef VC_CUDA_EMU_THREADS
    std::condition_variable cv;
#else
    SwitchCtx sw;
    char *stack = nullptr; /* usable stack (above the guard page) */
    size_t stack_size = 0;
    void *fake_stack = nullptr;
#endif
};

struct SharedVar {
    const void *key;
    void *ptr;
    size_t bytes;
    const char *name, *file;
    int line;
};

struct Block {
    const KernelRun *run = nullptr;
    uint3 idx{};
    unsigned n = 0;
    Fiber *fibers = nullptr;
    unsigned running = 0, done = 0;
    unsigned bar_arrived = 0;
    const Fiber *bar_first = nullptr, *bar_other = nullptr; /* bar_other: at another site */
    const Fiber *first_done = nullptr;
    unsigned bar_gen = 0;            /* completed block barriers */
    char bar_sync[2] = {0, 0};       /* TSan: release objects of successive barriers */
    char done_sync = 0;              /* TSan: every exit before the block's end */
    std::vector<unsigned> warp_exist, warp_arrived;
    std::vector<SharedVar> shared;
    size_t shared_bytes = 0;
    void *dyn = nullptr;
#ifdef VC_CUDA_EMU_THREADS
    std::mutex mu;
#endif
};

const char *const k_warp_names[] = {"__syncwarp",        "__shfl_sync",       "__shfl_up_sync",
                                    "__shfl_down_sync",  "__shfl_xor_sync",   "__ballot_sync",
                                    "__any_sync",        "__all_sync",        "__reduce_add_sync",
                                    "__reduce_min_sync", "__reduce_max_sync", "__reduce_min_sync",
                                    "__reduce_max_sync"};
const char *const k_barrier_names[] = {"__syncthreads", "__syncthreads_count", "__syncthreads_and",
                                       "__syncthreads_or"};

std::string fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char *f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

std::string where(const Block &b) {
    return fmt("kernel %s block (%u,%u,%u)", b.run->name, b.idx.x, b.idx.y, b.idx.z);
}
std::string who(const Fiber &f) {
    return fmt("thread %u (%u,%u,%u)", f.linear, f.thread_idx.x, f.thread_idx.y, f.thread_idx.z);
}
std::string what(const Fiber &f) {
    if (f.state == WAIT_BLOCK) return fmt("waits at %s (%s:%d)", k_barrier_names[f.bar_kind], f.file, f.line);
    if (f.state == WAIT_WARP)
        return fmt("waits at %s (%s:%d) with mask 0x%08x", k_warp_names[f.op], f.file, f.line, f.mask);
    return f.state == DONE ? "has returned" : "runs";
}
bool same_site(const Fiber &a, const Fiber &b) {
    return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0);
}

/* Every thread that is not done, as runs of consecutive threads doing the
 * same thing: "threads 0-31 wait at __shfl_sync (k.cu:12) ...". */
[[noreturn]] void die_deadlock(const Block &b) {
    std::string s;
    unsigned groups = 0;
    for (unsigned i = 0; i < b.n;) {
        std::string w = what(b.fibers[i]);
        unsigned j = i + 1;
        while (j < b.n && what(b.fibers[j]) == w) j++;
        if (b.fibers[i].state != DONE) {
            if (groups++ == 8) {
                s += "; ...";
                break;
            }
            s += fmt("%sthreads %u-%u %s", s.empty() ? "" : "; ", i, j - 1, w.c_str());
        }
        i = j;
    }
    die("%s: deadlock, no thread can go on: %s", where(b).c_str(), s.c_str());
}

void check_stall(const Block &b) {
    if (b.running == 0 && b.done < b.n) die_deadlock(b);
}

#if VC_EMU_TSAN
inline void tsan_release(void *p) { __tsan_release(p); }
inline void tsan_acquire(void *p) { __tsan_acquire(p); }
inline void sync_off() { AnnotateIgnoreSyncBegin(__FILE__, __LINE__); }
inline void sync_on() { AnnotateIgnoreSyncEnd(__FILE__, __LINE__); }
inline void quiet_begin() { __tsan_ignore_thread_begin(); }
inline void quiet_end() { __tsan_ignore_thread_end(); }
#else
inline void tsan_release(void *) {}
inline void tsan_acquire(void *) {}
inline void sync_off() {}
inline void sync_on() {}
inline void quiet_begin() {}
inline void quiet_end() {}
#endif

#ifdef VC_CUDA_EMU_THREADS
using Lock = std::unique_lock<std::mutex>;
/* The block mutex, invisible to TSan with the bookkeeping it guards. */
struct BlockLock {
    Lock lk;
    explicit BlockLock(std::mutex &m) : lk(m, std::defer_lock) {
        quiet_begin();
        sync_off();
        lk.lock();
        sync_on();
    }
    ~BlockLock() {
        sync_off();
        lk.unlock();
        sync_on();
        quiet_end();
    }
    void wait(std::condition_variable &cv) {
        sync_off();
        cv.wait(lk);
        sync_on();
    }
};
#define VC_EMU_LOCK(b) BlockLock lk((b).mu)
inline void notify(Fiber &f) { f.cv.notify_one(); }
#else
#define VC_EMU_LOCK(b) \
    do {               \
    } while (0)
inline void notify(Fiber &) {}
#endif

Fiber &current(const char *what_call) {
    ThreadCtx *c = tls_ctx;
    if (!c) not_in_kernel(what_call);
    return *static_cast<Fiber *>(c);
}

void complete_block_barrier(Block &b) {
    if (b.done)
        die("%s: %s returned while %u thread(s) wait at %s (%s:%d): every thread of a block must reach each "
            "__syncthreads (do not return early before one)",
            where(b).c_str(), who(*b.first_done).c_str(), b.bar_arrived, k_barrier_names[b.bar_first->bar_kind],
            b.bar_first->file, b.bar_first->line);
    if (b.bar_other) {
        unsigned at_first = 0;
        for (unsigned i = 0; i < b.n; i++) at_first += same_site(b.fibers[i], *b.bar_first);
        die("%s: divergent barriers: %s %s but %s %s (%u of %u threads at the first); all threads of a block "
            "must reach the same __syncthreads",
            where(b).c_str(), who(*b.bar_first).c_str(), what(*b.bar_first).c_str(), who(*b.bar_other).c_str(),
            what(*b.bar_other).c_str(), at_first, b.n);
    }
    int count = 0;
    for (unsigned i = 0; i < b.n; i++) count += b.fibers[i].pred != 0;
    int kind = b.bar_first->bar_kind;
    int result = kind == 1 ? count : kind == 2 ? count == (int)b.n : kind == 3 ? count > 0 : 0;
    for (unsigned i = 0; i < b.n; i++) {
        Fiber &f = b.fibers[i];
        f.result = result;
        f.state = RUNNING;
        notify(f);
    }
    b.running = b.n;
    b.bar_arrived = 0;
    b.bar_first = b.bar_other = nullptr;
    b.bar_gen++;
}

/* The lanes in m (all arrived) agree on the operation: compute each one's
 * result and release them. */
void complete_warp(Block &b, unsigned w, unsigned m, const Fiber &last) {
    Fiber *lanes = b.fibers + 32 * w;
    for (unsigned l = 0; l < 32; l++) {
        if (!(m >> l & 1)) continue;
        const Fiber &o = lanes[l];
        if (o.mask != m || o.op != last.op || o.width != last.width)
            die("%s warp %u: lanes disagree: %s %s but %s %s; all lanes named in a mask must make the same warp "
                "call with the same mask",
                where(b).c_str(), w, who(o).c_str(), what(o).c_str(), who(last).c_str(), what(last).c_str());
    }
    const uint64_t poison = ~(uint64_t)0; /* a lane outside the mask: undefined on a GPU */
    unsigned ballot = 0, sum = 0, umin = ~0u, umax = 0;
    int smin = 0x7fffffff, smax = (int)0x80000000;
    for (unsigned l = 0; l < 32; l++) {
        if (!(m >> l & 1)) continue;
        uint64_t v = lanes[l].value;
        ballot |= (unsigned)(v != 0) << l;
        sum += (unsigned)v;
        umin = (unsigned)v < umin ? (unsigned)v : umin;
        umax = (unsigned)v > umax ? (unsigned)v : umax;
        smin = (int)(unsigned)v < smin ? (int)(unsigned)v : smin;
        smax = (int)(unsigned)v > smax ? (int)(unsigned)v : smax;
    }
    int width = last.width;
    unsigned slots = 0;
    for (unsigned l = 0; l < 32; l++)
        if (m >> l & 1) slots |= (unsigned)lanes[l].arrive_slot << l;
    for (unsigned l = 0; l < 32; l++) {
        if (!(m >> l & 1)) continue;
        Fiber &o = lanes[l];
        o.acq_slots = slots;
        unsigned seg = l & ~(unsigned)(width - 1), rel = l & (unsigned)(width - 1);
        long src = l;
        switch (o.op) {
        case WARP_SHFL_IDX: src = seg + ((unsigned)o.param & (unsigned)(width - 1)); break;
        case WARP_SHFL_UP: src = rel >= (unsigned)o.param ? (long)l - o.param : l; break;
        case WARP_SHFL_DOWN: src = rel + (unsigned)o.param < (unsigned)width ? (long)l + o.param : l; break;
        case WARP_SHFL_XOR:
            src = l ^ (unsigned)o.param;
            if (src < 0 || src >= (long)(seg + width)) src = l;
            break;
        default: break;
        }
        switch (o.op) {
        case WARP_SHFL_IDX:
        case WARP_SHFL_UP:
        case WARP_SHFL_DOWN:
        case WARP_SHFL_XOR: o.wresult = (m >> src & 1) ? lanes[src].value : poison; break;
        case WARP_BALLOT: o.wresult = ballot; break;
        case WARP_ANY: o.wresult = ballot != 0; break;
        case WARP_ALL: o.wresult = ballot == m; break;
        case WARP_REDUCE_ADD: o.wresult = sum; break;
        case WARP_REDUCE_MIN_U: o.wresult = umin; break;
        case WARP_REDUCE_MAX_U: o.wresult = umax; break;
        case WARP_REDUCE_MIN_S: o.wresult = (unsigned)smin; break;
        case WARP_REDUCE_MAX_S: o.wresult = (unsigned)smax; break;
        default: o.wresult = 0; break;
        }
        o.state = RUNNING;
        b.running++;
        notify(o);
    }
    b.warp_arrived[w] &= ~m;
}

void finalize_block(Block &b) {
    long long off;
    for (const SharedVar &s : b.shared) {
        if (!guarded_intact(s.ptr, s.bytes, &off))
            die("%s wrote outside shared '%s' (%zu bytes, %s:%d): byte %lld was changed", where(b).c_str(), s.name,
                s.bytes, s.file, s.line, off);
        guarded_free(s.ptr);
    }
    b.shared.clear();
    b.shared_bytes = 0;
    if (!guarded_intact(b.dyn, b.run->shmem, &off))
        die("%s wrote outside its %zu bytes of dynamic shared memory: byte %lld was changed", where(b).c_str(),
            b.run->shmem, off);
    guarded_free(b.dyn);
    b.dyn = nullptr;
}

void thread_exit(Fiber &f) {
    Block &b = *f.block;
    VC_EMU_LOCK(b);
    tsan_release(&b.done_sync);
    f.state = DONE;
    b.running--;
    b.done++;
    if (!b.first_done) b.first_done = &f;
    if (b.bar_arrived && b.bar_arrived + b.done == b.n) complete_block_barrier(b); /* dies */
    unsigned w = f.linear / 32, lane = f.linear % 32, waiting = b.warp_arrived[w];
    for (unsigned l = 0; l < 32; l++) {
        const Fiber &o = b.fibers[32 * w + l];
        if ((waiting >> l & 1) && (o.mask >> lane & 1))
            die("%s: %s returned while %s %s: a lane named in a warp call's mask must make that call",
                where(b).c_str(), who(f).c_str(), who(o).c_str(), what(o).c_str());
    }
    check_stall(b);
#ifdef VC_CUDA_EMU_THREADS
    if (b.done == b.n) {
        tsan_acquire(&b.done_sync);
        finalize_block(b);
    }
#endif
}

/* Sets up block number blk of the kernel on b's fibers. */
void start_block(Block &b, const KernelRun &k, unsigned long long blk) {
    unsigned gx = k.grid.x, gy = k.grid.y, bx = k.block.x, by = k.block.y;
    b.run = &k;
    b.idx = uint3{(unsigned)(blk % gx), (unsigned)(blk / gx % gy), (unsigned)(blk / ((unsigned long long)gx * gy))};
    b.running = b.n;
    b.done = 0;
    b.bar_arrived = 0;
    b.bar_first = b.bar_other = b.first_done = nullptr;
    for (unsigned &a : b.warp_arrived) a = 0;
    b.dyn = guarded_alloc(k.shmem, 16, true);
    for (unsigned i = 0; i < b.n; i++) {
        Fiber &f = b.fibers[i];
        f.thread_idx = uint3{i % bx, i / bx % by, i / (bx * by)};
        f.block_idx = b.idx;
        f.block_dim = k.block;
        f.grid_dim = k.grid;
        f.block = &b;
        f.linear = i;
        f.state = RUNNING;
        f.pred = 0;
    }
}

void init_block(Block &b, unsigned n, Fiber *fibers) {
    b.n = n;
    b.fibers = fibers;
    unsigned nw = (n + 31) / 32;
    b.warp_exist.assign(nw, 0);
    b.warp_arrived.assign(nw, 0);
    for (unsigned i = 0; i < n; i++) b.warp_exist[i / 32] |= 1u << (i % 32);
}

size_t env_size(const char *name, size_t dflt) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0) die("%s=%s: expected a positive integer", name, s);
    return (size_t)v;
}

#ifndef VC_CUDA_EMU_THREADS
/* ---- fibers ---- */
struct Sched {
    SwitchCtx main;
    Fiber *cur = nullptr;
    const void *main_bottom = nullptr;
    size_t main_size = 0;
    void *main_fake = nullptr;
    std::vector<Fiber> pool;
    size_t stack_size = 0;
};
Sched g_sched; /* one launch at a time (emu_runtime.cc holds a lock) */

void fiber_yield(Fiber &f) {
#if VC_EMU_ASAN
    __sanitizer_start_switch_fiber(&f.fake_stack, g_sched.main_bottom, g_sched.main_size);
#endif
    ctx_switch(f.sw, g_sched.main);
#if VC_EMU_ASAN
    __sanitizer_finish_switch_fiber(f.fake_stack, nullptr, nullptr);
#endif
}

[[noreturn]] void fiber_entry() {
    Fiber *f = g_sched.cur;
#if VC_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_sched.main_bottom, &g_sched.main_size);
#endif
    (*f->block->run->body)();
    thread_exit(*f);
#if VC_EMU_ASAN
    /* the frames below stay on this stack forever: clear their redzones
     * before it is reused, and let ASan drop this fiber's fake stack */
    __asan_handle_no_return();
    __sanitizer_start_switch_fiber(nullptr, g_sched.main_bottom, g_sched.main_size);
#endif
    ctx_switch(f->sw, g_sched.main);
    abort(); /* a finished fiber is never resumed */
}

void resume(Fiber &f) {
    g_sched.cur = &f;
    tls_ctx = &f;
#if VC_EMU_ASAN
    __sanitizer_start_switch_fiber(&g_sched.main_fake, f.stack, f.stack_size);
#endif
    ctx_switch(g_sched.main, f.sw);
#if VC_EMU_ASAN
    __sanitizer_finish_switch_fiber(g_sched.main_fake, nullptr, nullptr);
#endif
    tls_ctx = nullptr;
    g_sched.cur = nullptr;
}

/* Stacks come from mmap with a PROT_NONE page below each, so an overflow
 * faults instead of writing over a neighbour; they are kept for later
 * launches. VC_CUDA_EMU_STACK_KB sets their size. */
void ensure_fibers(unsigned n) {
    if (!g_sched.stack_size) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t kb = env_size("VC_CUDA_EMU_STACK_KB", VC_EMU_ASAN ? 512 : 128);
        g_sched.stack_size = (kb * 1024 + page - 1) / page * page;
    }
    if (g_sched.pool.size() >= n) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t old = g_sched.pool.size();
    g_sched.pool.resize(n);
    for (size_t i = old; i < n; i++) {
        size_t total = g_sched.stack_size + page;
        void *p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) die("cannot map a %zu-byte fiber stack", total);
        if (mprotect(p, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
        g_sched.pool[i].stack = (char *)p + page;
        g_sched.pool[i].stack_size = g_sched.stack_size;
    }
}

void run_blocks(const KernelRun &k) {
    unsigned n = k.block.x * k.block.y * k.block.z;
    unsigned long long nblocks = (unsigned long long)k.grid.x * k.grid.y * k.grid.z;
    ensure_fibers(n);
    Block b;
    init_block(b, n, g_sched.pool.data());
    for (unsigned long long blk = 0; blk < nblocks; blk++) {
        start_block(b, k, blk);
        for (unsigned i = 0; i < n; i++) ctx_prepare(b.fibers[i].sw, b.fibers[i].stack, b.fibers[i].stack_size, fiber_entry);
        while (b.done < n)
            for (unsigned i = 0; i < n; i++)
                if (b.fibers[i].state == RUNNING) resume(b.fibers[i]);
        finalize_block(b);
    }
}

inline void wait_running(Fiber &f) {
    if (f.state != RUNNING) fiber_yield(f);
}
#define VC_EMU_WAIT(f) wait_running(f)

#else
/* ---- OS threads ---- */
struct Slot {
    Block b;
    std::unique_ptr<Fiber[]> fibers;
    std::condition_variable start_cv;
    unsigned start_arrived = 0;
    unsigned long long gen = 0;
};

void slot_worker(Slot &s, const KernelRun &k, unsigned t, unsigned long long first, unsigned long long step,
                 unsigned long long nblocks) {
    for (unsigned long long blk = first; blk < nblocks; blk += step) {
        {
            Lock lk(s.b.mu);
            unsigned long long g = s.gen;
            if (++s.start_arrived == s.b.n) {
                s.start_arrived = 0;
                start_block(s.b, k, blk);
                s.gen++;
                s.start_cv.notify_all();
            } else {
                while (s.gen == g) s.start_cv.wait(lk);
            }
        }
        Fiber &f = s.fibers[t];
        tls_ctx = &f;
        (*k.body)();
        thread_exit(f);
        tls_ctx = nullptr;
    }
}

void run_blocks(const KernelRun &k) {
    unsigned n = k.block.x * k.block.y * k.block.z;
    unsigned long long nblocks = (unsigned long long)k.grid.x * k.grid.y * k.grid.z;
    unsigned long long nslots = env_size("VC_CUDA_EMU_BLOCKS", 2);
    if (nslots > nblocks) nslots = nblocks;
    std::vector<std::unique_ptr<Slot>> slots;
    for (unsigned long long s = 0; s < nslots; s++) {
        slots.emplace_back(new Slot);
        slots.back()->fibers.reset(new Fiber[n]);
        init_block(slots.back()->b, n, slots.back()->fibers.get());
    }
    std::vector<std::thread> threads;
    threads.reserve(nslots * n);
    for (unsigned long long s = 0; s < nslots; s++)
        for (unsigned t = 0; t < n; t++)
            threads.emplace_back(slot_worker, std::ref(*slots[s]), std::cref(k), t, s, nslots, nblocks);
    for (std::thread &th : threads) th.join();
}

#define VC_EMU_WAIT(f) \
    while ((f).state != RUNNING) lk.wait((f).cv)
#endif

}  // namespace

void not_in_kernel(const char *what_call) {
    die("%s used outside a kernel (in host code, or in a thread the emulator did not start)", what_call);
}

int block_barrier(int kind, int pred, const char *file, int line) {
    Fiber &f = current(k_barrier_names[kind & 3]);
    Block &b = *f.block;
    VC_EMU_LOCK(b);
    f.state = WAIT_BLOCK;
    f.file = file;
    f.line = line;
    f.bar_kind = kind & 3;
    f.pred = pred;
    f.bar_slot = b.bar_gen & 1;
    tsan_release(&b.bar_sync[f.bar_slot]);
    b.running--;
    if (b.bar_arrived == 0)
        b.bar_first = &f;
    else if (!b.bar_other && (!same_site(*b.bar_first, f) || b.bar_first->bar_kind != f.bar_kind))
        b.bar_other = &f;
    b.bar_arrived++;
    if (b.bar_arrived + b.done == b.n) complete_block_barrier(b);
    check_stall(b);
    VC_EMU_WAIT(f);
    tsan_acquire(&b.bar_sync[f.bar_slot]);
    return f.result;
}

uint64_t warp_op(int op, unsigned mask, uint64_t value, int param, int width, const char *file, int line) {
    Fiber &f = current(k_warp_names[op]);
    Block &b = *f.block;
    unsigned w = f.linear / 32, lane = f.linear % 32;
    VC_EMU_LOCK(b);
    f.file = file;
    f.line = line;
    if (!(mask >> lane & 1))
        die("%s: %s calls %s (%s:%d) with mask 0x%08x, which leaves out its own lane %u", where(b).c_str(),
            who(f).c_str(), k_warp_names[op], file, line, mask, lane);
    if (width < 1 || width > 32 || (width & (width - 1)))
        die("%s: %s calls %s (%s:%d) with width %d (a power of two up to 32)", where(b).c_str(), who(f).c_str(),
            k_warp_names[op], file, line, width);
    unsigned m = mask & b.warp_exist[w];
    f.state = WAIT_WARP;
    f.op = op;
    f.mask = m;
    f.value = value;
    f.param = param;
    f.width = width;
    f.arrive_slot = f.nsync++ & 1;
    tsan_release(&f.tsan_obj[f.arrive_slot]);
    b.running--;
    for (unsigned l = 0; l < 32; l++) {
        const Fiber &o = b.fibers[32 * w + l];
        if ((m >> l & 1) && o.state == DONE)
            die("%s: %s %s, but lane %u (%s) has returned", where(b).c_str(), who(f).c_str(), what(f).c_str(), l,
                who(o).c_str());
    }
    b.warp_arrived[w] |= 1u << lane;
    if ((b.warp_arrived[w] & m) == m) complete_warp(b, w, m, f);
    check_stall(b);
    VC_EMU_WAIT(f);
    for (unsigned l = 0; l < 32; l++)
        if (f.mask >> l & 1) tsan_acquire(&b.fibers[32 * w + l].tsan_obj[f.acq_slots >> l & 1]);
    return f.wresult;
}

void *shared_alloc(const void *key, size_t bytes, size_t align, const char *name, const char *file, int line) {
    Fiber &f = current("VC_SHARED");
    Block &b = *f.block;
    VC_EMU_LOCK(b);
    for (const SharedVar &s : b.shared) {
        if (s.key == key) {
            tsan_acquire(s.ptr);
            return s.ptr;
        }
    }
    if (align > 256) die("%s: shared '%s' (%s:%d) asks for alignment %zu", where(b).c_str(), name, file, line, align);
    b.shared_bytes += (bytes + align - 1) / align * align;
    if (b.shared_bytes > 48 * 1024)
        die("%s: %zu bytes of static shared memory (the last, '%s' at %s:%d) exceed CUDA's 48 KiB", where(b).c_str(),
            b.shared_bytes, name, file, line);
    if (b.shared_bytes + b.run->shmem > b.run->shared_limit)
        die("%s: %zu static + %zu dynamic bytes of shared memory exceed the %zu a block may use (raise it with "
            "cudaFuncSetAttribute)",
            where(b).c_str(), b.shared_bytes, b.run->shmem, b.run->shared_limit);
    void *p = guarded_alloc(bytes, align, true);
    if (!p) die("%s: out of memory for shared '%s'", where(b).c_str(), name);
    tsan_release(p);
    b.shared.push_back(SharedVar{key, p, bytes, name, file, line});
    return p;
}

void *dyn_shared() { return current("VC_SHARED_DYN").block->dyn; }

void run_kernel(const KernelRun &k) {
    if (tls_ctx) die("kernel %s launched from inside a kernel (dynamic parallelism is not emulated)", k.name);
    run_blocks(k);
}

}  // namespace vc_emu

extern "C" int vc_emu_thread_mode(void) {
#ifdef VC_CUDA_EMU_THREADS
    return 1;
#else
    return 0;
#endif
}
