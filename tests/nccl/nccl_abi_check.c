/* nccl_abi_check.c: compile-time proof that the emulator's NCCL
 * (tensor/cuda/emu_nccl.h) has the values and signatures of the toolkit's
 * nccl.h. Compiled twice: against the real header (make nccl-check) and
 * against the emulator's (-DVC_CUDA_EMU, make test): both must pass these
 * assertions and assignments with -Werror. No code runs. */
#include "tensor/cuda/cuda_host.h"
#include "tensor/cuda/nccl_host.h"

_Static_assert(NCCL_UNIQUE_ID_BYTES == 128, "unique id size");
_Static_assert(sizeof(ncclUniqueId) == 128, "ncclUniqueId");
_Static_assert(ncclSuccess == 0 && ncclUnhandledCudaError == 1 && ncclSystemError == 2 && ncclInternalError == 3 &&
                   ncclInvalidArgument == 4 && ncclInvalidUsage == 5 && ncclRemoteError == 6 && ncclInProgress == 7,
               "ncclResult_t");
_Static_assert(ncclSum == 0 && ncclProd == 1 && ncclMax == 2 && ncclMin == 3 && ncclAvg == 4, "ncclRedOp_t");
_Static_assert(ncclInt8 == 0 && ncclUint8 == 1 && ncclInt32 == 2 && ncclUint32 == 3 && ncclInt64 == 4 &&
                   ncclUint64 == 5 && ncclFloat16 == 6 && ncclFloat32 == 7 && ncclFloat == 7 && ncclFloat64 == 8 &&
                   ncclDouble == 8,
               "ncclDataType_t");
_Static_assert(NCCL_VERSION(2, 28, 9) == 22809, "NCCL_VERSION");

void vc_nccl_abi_check(void);
void vc_nccl_abi_check(void) {
    ncclResult_t (*get_version)(int *) = ncclGetVersion;
    ncclResult_t (*get_id)(ncclUniqueId *) = ncclGetUniqueId;
    ncclResult_t (*init_rank)(ncclComm_t *, int, ncclUniqueId, int) = ncclCommInitRank;
    ncclResult_t (*destroy)(ncclComm_t) = ncclCommDestroy;
    ncclResult_t (*abort_)(ncclComm_t) = ncclCommAbort;
    const char *(*err_string)(ncclResult_t) = ncclGetErrorString;
    const char *(*last_error)(ncclComm_t) = ncclGetLastError;
    ncclResult_t (*async_error)(ncclComm_t, ncclResult_t *) = ncclCommGetAsyncError;
    ncclResult_t (*count)(const ncclComm_t, int *) = ncclCommCount;
    ncclResult_t (*user_rank)(const ncclComm_t, int *) = ncclCommUserRank;
    ncclResult_t (*bcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = ncclBroadcast;
    ncclResult_t (*allreduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) =
        ncclAllReduce;
    ncclResult_t (*reduce_scatter)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                                   cudaStream_t) = ncclReduceScatter;
    ncclResult_t (*allgather)(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = ncclAllGather;
    (void)get_version, (void)get_id, (void)init_rank, (void)destroy, (void)abort_, (void)err_string, (void)last_error;
    (void)async_error, (void)count, (void)user_rank, (void)bcast, (void)allreduce, (void)reduce_scatter, (void)allgather;
}
