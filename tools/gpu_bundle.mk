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
# the backend-op suite linked against the real CUDA library (the Makefile's
# libvclip_cuda.a: nvcc kernels, cudart, cuBLAS): the cuda backend against cpu
ifneq ($(wildcard tensor/backend_cuda.c),)
GB_BINS += $(BUILD)/gpu/test_backend_ops_cuda
$(BUILD)/gpu/test_backend_ops_cuda: $(BUILD)/obj/tests/test_backend_ops.o $(HELP_OBJ) $(BUILD)/libvclip_cuda.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(BUILD)/libvclip_cuda.a $(CHECK_LIBS) $(LDLIBS) $(VCLIP_LIBS) -o $@
endif
endif
gpu-bundle-targets: $(GB_BINS)
gpu-bundle-list: ; @echo $(GB_BINS)
