# Read after the Makefile by tools/gpu_bundle.sh (make -f Makefile -f
# tools/gpu_bundle.mk VC_INNER=1 BUILD=build/gpu-bundle/obj ...): which
# binaries go into gpu-bundle/. Everything CUDA is optional here: a target
# that the current tree cannot build (no nvcc, no nccl.h, no CUDA backend) is
# left out, and tools/gpu_check.sh reports its step as not built.
.PHONY: print-pkgs gpu-bundle-targets gpu-bundle-list
print-pkgs: ; @echo $(PKGS)
# CPU: the program, the loader bench, a CPU suite
GB_BINS := $(BUILD)/vclip $(BUILD)/bench/bench_loader $(BUILD)/tests/test_tensor
ifneq ($(NVCC),)
# make cuda-check's test of the emulator's API against the real runtime and cuBLAS
GB_BINS += $(BUILD)/nvcc/test_cuda_real
# make nccl-check's 1-rank smoke test
GB_BINS += $(if $(wildcard $(NCCL_HOME)/include/nccl.h),$(BUILD)/nvcc/nccl_smoke)
# the backend-op suite on the real CUDA backend (the Makefile's rule: cuda
# against cpu; SKIP for the cuda backend where no GPU is present)
GB_BINS += $(if $(wildcard tensor/backend_cuda.c),$(BUILD)/nvcc/tests/test_backend_ops)
# the CLIP towers on the real CUDA backend against the CPU (fp32, bf16, fp16)
# and encode-video / encode-text / search --device cuda of the bundle's vclip
GB_BINS += $(if $(wildcard tests/test_clip_cuda.c),$(BUILD)/nvcc/tests/test_clip_cuda)
endif
gpu-bundle-targets: $(GB_BINS)
gpu-bundle-list: ; @echo $(GB_BINS)
