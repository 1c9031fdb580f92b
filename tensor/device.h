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
/* Whether CUDA support is compiled in, and a line describing it
 * ("CUDA 12.4 runtime, 1 device" / "not built in") into buf. */
bool vc_device_cuda_built(void);
const char *vc_device_cuda_info(char *buf, size_t n);

#endif
