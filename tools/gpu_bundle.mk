# Read after the Makefile by tools/gpu_bundle.sh (make -f Makefile -f
# tools/gpu_bundle.mk VC_INNER=1 BUILD=build/gpu-bundle/obj ...): which
# binaries go into gpu-bundle/. Everything CUDA is optional here: a target
# that the current tree cannot build (no nvcc, no nccl.h) is left out, and
# tools/gpu_check.sh reports its step as not built.
.PHONY: print-pkgs gpu-bundle-targets gpu-bundle-list
print-pkgs: ; @echo $(PKGS)
# CPU: the program, the loader bench, and suites that run the backend table
GB_BINS := $(BUILD)/vclip $(BUILD)/bench/bench_loader $(BUILD)/tests/test_tensor $(BUILD)/tests/test_backend_ops
# real CUDA (nvcc, cudart, cuBLAS): make cuda-check's test; NCCL: make nccl-check's smoke test
GB_BINS += $(if $(NVCC),$(BUILD)/nvcc/test_cuda_real)
GB_BINS += $(if $(and $(NVCC),$(wildcard $(NCCL_HOME)/include/nccl.h)),$(BUILD)/nvcc/nccl_smoke)
# real-CUDA variants of the test suites, where the Makefile defines them
GB_BINS += $(GB_EXTRA_TARGETS)
gpu-bundle-targets: $(GB_BINS)
gpu-bundle-list: ; @echo $(GB_BINS)
