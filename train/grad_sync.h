/* grad_sync.h: the gradient all-reduce of a data-parallel step in buckets
 * that start while the backward still runs.
 *
 * Owns: the bucket plan over the flat gradient buffer (params.h), the
 * backward hooks (autograd/tape.h) that start a bucket's asynchronous
 * all-reduce once every gradient in it is final and move the collectives
 * along between ops, and the wait for them after the backward. Not here:
 * the collectives themselves (tensor/comm.h), when a gradient is final (the
 * tape knows), the step around it (step.c).
 *
 * Buckets are contiguous ranges of ps->grad that together cover [0, ps->n)
 * once, whole parameters each (the padding between parameters goes with the
 * parameter before it). They are cut from the end of the buffer, about
 * bucket_mb megabytes (10^6 bytes) each, at least one parameter: a model
 * adds its parameters in forward order (logit_scale last), so the backward
 * finishes them roughly from the end of the buffer back to its start, and
 * the buckets in that order. Bucket k starts when all its parameters were
 * reported final and buckets 0..k-1 have started, so every rank starts them
 * in the same order whatever its data; buckets whose parameters no node
 * read start after the backward, once vc_params_finish_grad zeroed them.
 *
 * The sums are those of one vc_comm_allreduce_sum over the whole buffer for
 * 2 ranks (bit for bit: one addition per element); for 3 or more they are
 * the same on every rank and equal to it up to the rounding of another
 * summation order (tensor/comm.h). */
#ifndef VC_GRAD_SYNC_H
#define VC_GRAD_SYNC_H

#include "autograd/params.h"
#include "tensor/comm.h"

typedef struct vc_grad_sync vc_grad_sync;

/* Plans the buckets of ps for one backward, in the tape's host arena: *out
 * is valid until the next vc_tape_reset. ps lives where c's float
 * collectives work (host memory with MPI, CUDA memory with NCCL, whose
 * buckets run on a stream of their own). Call after the forward and
 * vc_params_zero_grad, then run the backward with vc_grad_sync_hooks(*out).
 * bucket_mb > 0. */
vc_status vc_grad_sync_begin(vc_grad_sync **out, vc_tape *t, vc_params *ps, vc_comm *c, double bucket_mb);
const vc_backward_hooks *vc_grad_sync_hooks(vc_grad_sync *g);
/* After the backward and vc_params_finish_grad: starts the buckets not
 * started yet, in order, and waits for every one. ps->grad then holds the
 * sum over ranks. */
vc_status vc_grad_sync_finish(vc_grad_sync *g);

/* What a step did: buckets planned, and how many had started before the
 * backward ended. */
typedef struct {
    int buckets, started_in_backward;
    int64_t smallest, largest; /* floats in a bucket */
} vc_grad_sync_info;
void vc_grad_sync_get_info(const vc_grad_sync *g, vc_grad_sync_info *info);

#endif
