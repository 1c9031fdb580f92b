/* device.h: which device a run computes on, as a user names it ("cpu",
 * "cuda", "cuda:N"), and opening it: a device this build has no backend for,
 * or a CUDA device that is not present, is one readable error.
 * Owns: parsing the name, the presence check, selecting the GPU and the TF32
 * switch, and the line `vclip version` prints about CUDA.
 * Not here: the backends themselves (backend.h, backend_cuda.c). */
#ifndef VC_DEVICE_H
#define VC_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"
#include "status.h"

typedef struct {
    vc_device type;
    int index;        /* the GPU number for cuda ("cuda" is cuda:0) */
} vc_device_spec;

/* "cpu", "cuda" or "cuda:N" (N a small non-negative integer). */
vc_status vc_device_parse(const char *text, vc_device_spec *out);
/* "cpu", "cuda:1" into buf (returns buf). */
const char *vc_device_spec_name(const vc_device_spec *d, char *buf, size_t n);
/* Makes d the device this process computes on: fails naming it when this
 * build has no backend for it or no such GPU is present. tf32 lets the
 * matrix products use TF32 tensor cores (CUDA only; ignored on the CPU). */
vc_status vc_device_open(const vc_device_spec *d, bool tf32);
/* Fails naming the first kernel among ops[0..n) that the backend of d does
 * not implement (supports_op), and what needs it. */
vc_status vc_device_require(vc_device d, const int *ops, int n, const char *what);
/* The kernels a training step (forward, backward, loss, optimiser) uses. */
extern const int vc_train_kernels[];
extern const int vc_train_kernels_n;
/* ---- CUDA graphs of the backend's stream (train/step.c replays a step) ----
 * Between begin and end, work queued on the device's stream is recorded
 * (Relaxed capture mode), not run; vc_device_upload_now still copies at
 * once, outside the graph. All fail with one line on a device without
 * graphs (the CPU, a build without CUDA). */
typedef struct vc_graph vc_graph;
vc_status vc_graph_begin(vc_device d);
/* Ends the capture and instantiates it; *out NULL when it failed. */
vc_status vc_graph_end(vc_device d, vc_graph **out);
/* Queues the recorded work on the stream (returns without waiting). */
vc_status vc_graph_launch(vc_graph *g);
/* Kernels and copies in the graph (its node count). */
size_t vc_graph_nodes(const vc_graph *g);
void vc_graph_free(vc_graph *g);
/* A host-to-device copy done now and waited for, also while the stream
 * captures (then outside the graph, which later reads what it wrote). */
void vc_device_upload_now(vc_device d, void *dst, const void *src, size_t n);

/* ---- batches to the device ----
 * Host memory device d copies from asynchronously: pinned (cudaHostAlloc)
 * for CUDA, plain 64-byte aligned memory for the CPU; NULL on failure. */
void *vc_device_host_alloc(vc_device d, size_t n);
void vc_device_host_free(vc_device d, void *p);
/* Copies a batch's buffers to the device on a copy stream of its own while
 * the compute stream runs the previous step. Two sets of device buffers
 * alternate: start(k+1) fills one while step k reads the other. */
#define VC_UPLOAD_MAX 4
typedef struct vc_uploader vc_uploader;
vc_status vc_uploader_open(vc_uploader **u, vc_device d);
/* Queues the copies of n host buffers (pinned, left untouched until the
 * next take) into the next set; returns without waiting. */
vc_status vc_uploader_start(vc_uploader *u, int n, const void *const *src, const size_t *bytes);
/* The device copies of the last start, in dst[0..n): work queued on the
 * compute stream from now on runs after the copies. */
vc_status vc_uploader_take(vc_uploader *u, void **dst);
/* Waits until every copy started so far has read its host buffers. */
void vc_uploader_wait(vc_uploader *u);
void vc_uploader_close(vc_uploader *u);

/* Whether CUDA support is compiled in, and a line describing it
 * ("CUDA 12.4 runtime, 1 device" / "not built in") into buf. */
bool vc_device_cuda_built(void);
const char *vc_device_cuda_info(char *buf, size_t n);

#endif
