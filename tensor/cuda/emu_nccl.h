/* emu_nccl.h: the part of NCCL's API vclip uses (tensor/comm_nccl.c), for
 * the CPU emulator: same names, types, values and signatures as NCCL 2.28's
 * nccl.h (tests/nccl/nccl_abi_check.c compares them against the toolkit's
 * header), implemented in emu_nccl.c with MPI ("NCCL over MPI"): each
 * collective copies its device buffers to host memory (cudaMemcpy, so it
 * works with VC_CUDA_EMU_PROTECT=1 and rejects pointers that are not device
 * memory), runs the MPI collective of the same meaning there, and copies
 * the result back.
 *
 * Semantics kept: a communicator is made by every rank calling
 * ncclCommInitRank with the same unique id (ranks with another id form
 * another communicator), nranks and rank must match the MPI ranks that
 * share the id, in-place calls follow NCCL's layout rules (allgather in
 * place when sendbuff == recvbuff + rank * count), and a call on a stream
 * that is capturing a graph fails with ncclInvalidUsage (the emulator
 * cannot record an MPI call into a graph). Like the emulated runtime,
 * every call completes before it returns (a GPU would queue it on the
 * stream), which is one of the orders a GPU may produce.
 *
 * Needs MPI initialised in the process (vc_comm_mpi_open does); every rank
 * of MPI_COMM_WORLD must take part in ncclCommInitRank (MPI_Comm_split). */
#ifndef VC_EMU_NCCL_H
#define VC_EMU_NCCL_H

#include <stddef.h>

#include "tensor/cuda/emu_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NCCL_MAJOR 2
#define NCCL_MINOR 28
#define NCCL_PATCH 9
#define NCCL_VERSION(X, Y, Z) (((X) <= 2 && (Y) <= 8) ? (X)*1000 + (Y)*100 + (Z) : (X)*10000 + (Y)*100 + (Z))
#define NCCL_VERSION_CODE NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH)

typedef struct ncclComm *ncclComm_t;
#define NCCL_UNIQUE_ID_BYTES 128
typedef struct {
    char internal[NCCL_UNIQUE_ID_BYTES];
} ncclUniqueId;

typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7,
    ncclNumResults = 8
} ncclResult_t;

typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;

typedef enum {
    ncclInt8 = 0, ncclChar = 0,
    ncclUint8 = 1,
    ncclInt32 = 2, ncclInt = 2,
    ncclUint32 = 3,
    ncclInt64 = 4,
    ncclUint64 = 5,
    ncclFloat16 = 6, ncclHalf = 6,
    ncclFloat32 = 7, ncclFloat = 7,
    ncclFloat64 = 8, ncclDouble = 8
} ncclDataType_t;

ncclResult_t ncclGetVersion(int *version);
ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId);
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank);
ncclResult_t ncclCommDestroy(ncclComm_t comm);
ncclResult_t ncclCommAbort(ncclComm_t comm);
const char *ncclGetErrorString(ncclResult_t result);
const char *ncclGetLastError(ncclComm_t comm);
ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError);
ncclResult_t ncclCommCount(const ncclComm_t comm, int *count);
ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank);
ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, ncclDataType_t datatype,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, ncclDataType_t datatype,
                           ncclComm_t comm, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
