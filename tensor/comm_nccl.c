/* The NCCL comm (tensor/comm.h): placeholder until the NCCL path lands. */
#include "comm.h"

vc_status vc_comm_nccl_open(vc_comm **out, vc_comm *mpi, int device) {
    *out = NULL;
    return vc_fail(VC_ERR_UNSUPPORTED, "comm: this vclip was built without NCCL");
}

const char *vc_comm_nccl_version(void) { return NULL; }
