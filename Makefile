# vclip build. `make` builds build/libvclip.a and build/vclip.
#   make test       Check suites (plus PyTorch reference tests when torch is importable)
#   make test-asan  the same suites under AddressSanitizer + UBSan
#   make bench      speed against plain sgemm / the PyTorch peers (OpenBLAS env unset)
#   make demo       the main job on the built-in synthetic dataset
# Every test binary is tests/test_*.c with its own main(). Tests named
# tests/test_grad*.c are built against a double-precision build of tensor/ and
# autograd/ (-DVC_DOUBLE) for finite-difference gradient checks, with tiny
# blocks for the fused linear's blocked recomputation so the checks cover it.

# Two levels. The outer one (this block) runs first and only makes sure the
# Debian packages exist (tools/install-deps.sh: the build profile for make and
# make demo, the test profile, which adds Check and the Python references, for
# the test targets), then runs make again with VC_INNER=1 for the goals asked.
# Every pkg-config flag below is read by that inner make, after the install:
# computing them while the packages were still missing made the first build on
# a fresh machine fail (cJSON.h not found).
ifeq ($(VC_INNER),)
BUILD ?= build
NODEPS_GOALS := clean fresh-check fresh-check-clean help-make
TEST_GOALS   := test test-asan bench fuzz test-tsan test-cuda-tsan vocab tokenizer-ref ort-venv wds-ref tensorboard-ref nccl-check gpu-bundle gpu-check-selftest
GOALS        := $(or $(MAKECMDGOALS),all)
DEPS_PROFILE := $(if $(filter-out $(NODEPS_GOALS),$(GOALS)),$(if $(filter $(TEST_GOALS) $(BUILD)/tests/% build%/tests/%,$(GOALS)),test,build),)
PY ?= /usr/bin/python3
.PHONY: vc-outer $(GOALS)
vc-outer:
ifneq ($(DEPS_PROFILE),)
	@PY=$(PY) tools/install-deps.sh $(DEPS_PROFILE)
endif
	@$(MAKE) --no-print-directory VC_INNER=1 $(MAKECMDGOALS)
$(GOALS): vc-outer ; @:
.DEFAULT_GOAL := vc-outer
else
CC      ?= gcc
OPT     ?= -O3 -march=native
BUILD   ?= build
SAN     ?=
# Libraries by pkg-config name (tools/install-deps.sh installs them; its BUILD_PC
# lists the same names). Check is for the tests only.
PKGS    := openblas hdf5 libarchive inih libcjson libavformat libavcodec libswscale libavutil \
           libpcre2-8 zlib libutf8proc libprotobuf-c cairo
PY      ?= /usr/bin/python3

# OpenBLAS: the OpenMP build shares libgomp's thread pool with our OpenMP
# loops; the pthread build's spinning threads fight them for the 2 cores (a
# linear layer with bias ran at 0.83 of plain sgemm instead of 0.93). Use it
# when installed (Debian libopenblas-openmp-dev), with an rpath because the
# system-wide libopenblas.so.0 may point at another build.
BLAS_OMP_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
ifneq ($(wildcard $(BLAS_OMP_DIR)/libopenblas.so),)
BLAS_LIBS := -L$(BLAS_OMP_DIR) -Wl,-rpath,$(BLAS_OMP_DIR) -lopenblas
else
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
endif

# A missing library is an error here, not an empty flag list that surfaces
# later as "cJSON.h: No such file or directory".
ifeq ($(filter-out clean fresh-check fresh-check-clean,$(or $(MAKECMDGOALS),all)),)
else ifneq ($(shell pkg-config --exists $(PKGS) && echo ok),ok)
$(error missing libraries: $(shell for p in $(PKGS); do pkg-config --exists $$p || printf '%s ' $$p; done)(pkg-config names; tools/install-deps.sh build installs them))
endif
# oneDNN (Debian libdnnl-dev; no pkg-config file): the CPU backend's bf16
# products (tensor/k_gemm_bf16.c) build against its header and open
# libdnnl.so.2 at run time on first use (so float32-only runs do not map it).
DNNL_H := /usr/include/oneapi/dnnl/dnnl.h
ifeq ($(filter-out clean fresh-check fresh-check-clean,$(or $(MAKECMDGOALS),all)),)
else ifeq ($(wildcard $(DNNL_H)),)
$(error missing library: oneDNN ($(DNNL_H) not found; Debian libdnnl-dev, tools/install-deps.sh build installs it))
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(BLAS_LIBS) $(shell pkg-config --libs $(filter-out openblas,$(PKGS))) -ldl
# MPI (tensor/comm_mpi.c) is optional: MPI=auto (the default) builds it in
# when pkg-config finds Open MPI (ompi-c, Debian libopenmpi-dev, which
# tools/install-deps.sh build installs), MPI=1 requires it, MPI=0 leaves it
# out. A vclip without MPI still runs single-process; `vclip version` says.
MPI ?= auto
ifneq ($(MPI),0)
MPI_FOUND := $(shell pkg-config --exists ompi-c && echo 1)
ifeq ($(MPI)$(MPI_FOUND),1)
$(error MPI=1 but pkg-config finds no ompi-c (Debian libopenmpi-dev))
endif
endif
ifeq ($(MPI_FOUND),1)
MPI_CFLAGS := -DVC_HAVE_MPI $(shell pkg-config --cflags ompi-c)
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
endif
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

# -fno-math-errno: nothing reads errno after a libm call, and with errno
# semantics GCC cannot vectorise sqrtf (AdamW ran at a third of its speed)
CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fno-math-errno -fopenmp $(OPT) -g $(SAN) \
          -MMD -MP -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(MPI_CFLAGS) $(CHECK_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS = -fopenmp $(SAN)
LDLIBS  = $(PKG_LIBS) $(MPI_LIBS) -lm -lpthread $(if $(SAN),$(SAN_DNNL))
# Sanitizer builds load oneDNN at start-up instead: LeakSanitizer's final
# check crashes ("Tracer caught signal 11") on the thread-local storage of a
# library that was dlopen'ed after threads started; linked, the same
# dlopen("libdnnl.so.2") returns the library already there (static TLS).
SAN_DNNL = -Wl,--no-as-needed -ldnnl -Wl,--as-needed

CORE_SRC := $(wildcard tensor/*.c autograd/*.c)
LIB_SRC  := $(CORE_SRC) $(wildcard models/*.c data/*.c train/*.c eval/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
GRAD_TESTS := $(filter tests/test_grad%,$(TEST_SRC))
PLAIN_TESTS := $(filter-out $(GRAD_TESTS),$(TEST_SRC))
TEST_HELPERS := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# Protocol buffers (train/tb_event.proto: TensorBoard's Event/Summary): C from
# protoc-c into $(BUILD)/gen at build time, compiled into the library.
PROTO_SRC := $(wildcard */*.proto)
PROTO_C   := $(PROTO_SRC:%.proto=$(BUILD)/gen/%.pb-c.c)
LIB_OBJ   += $(PROTO_C:%.c=$(BUILD)/obj/%.o)
F64_OBJ   := $(CORE_SRC:%.c=$(BUILD)/obj64/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
HELP_OBJ  := $(TEST_HELPERS:%.c=$(BUILD)/obj/%.o)
HELP64_OBJ:= $(TEST_HELPERS:%.c=$(BUILD)/obj64/%.o)
TEST_BIN  := $(PLAIN_TESTS:tests/%.c=$(BUILD)/tests/%) $(GRAD_TESTS:tests/%.c=$(BUILD)/tests/%)
# Fuzz harnesses (tests/fuzz/fuzz_NAME.c): `make test` replays their seeds and
# regression inputs (build/tests/fuzz_NAME), `make fuzz` fuzzes them.
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz_%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-asan bench demo clean
.SECONDARY:
all: $(BUILD)/libvclip.a $(BUILD)/vclip

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: %.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=. --c_out=$(BUILD)/gen $<
$(BUILD)/obj/train/tb_events.o: $(BUILD)/gen/train/tb_event.pb-c.h

$(BUILD)/obj64/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DVC_DOUBLE -DVC_RECOMPUTE_FLOATS=8 -c $< -o $@

$(BUILD)/libvclip.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libvclip64.a: $(F64_OBJ)
	@rm -f $@
	ar rcs $@ $^

# (with nvcc, VCLIP_LIB is the CUDA library of the CUDA block below)
VCLIP_LIB  = $(BUILD)/libvclip.a
$(BUILD)/vclip: $(TOOL_OBJ) $(BUILD)/libvclip.a
	$(CC) $(LDFLAGS) $(TOOL_OBJ) $(VCLIP_LIB) $(LDLIBS) $(VCLIP_LIBS) -o $@

$(BUILD)/tests/test_grad%: $(BUILD)/obj64/tests/test_grad%.o $(HELP64_OBJ) $(BUILD)/libvclip64.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HELP_OBJ) $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@

$(BUILD)/tests/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay.o $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@
$(BUILD)/obj/tests/fuzz/replay.o $(BUILD)/obj/tests/test_damage.o: EXTRA_CFLAGS += -DVC_SRC_DIR='"$(CURDIR)"'
# LD_PRELOAD shim that makes libhdf5 fail mid-run (tests/test_damage.c); no sanitizer
$(BUILD)/tests/h5_fault.so: tests/fuzz/h5_fault.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -g $(shell pkg-config --cflags hdf5) $< -o $@ -ldl

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Runs every suite even if one fails, then fails if any did.
# The CLIP vocabulary and the Python reference tokenizer come from PyPI; when
# they cannot be had the tokenizer's reference tests print SKIP.
test: $(BUILD)/vclip $(TEST_BIN) $(FUZZ_REPLAY) $(BUILD)/tests/h5_fault.so
	@$(MAKE) --no-print-directory vocab tokenizer-ref >/dev/null 2>&1 || \
	  echo "note: CLIP vocabulary or reference tokenizer unavailable (make vocab tokenizer-ref): their tests will SKIP"
	@$(MAKE) --no-print-directory wds-ref >/dev/null 2>&1 || \
	  echo "note: webdataset 0.1.103 unavailable (make wds-ref): the clip-video-encode shard tests will SKIP"
	@$(MAKE) --no-print-directory tensorboard-ref >/dev/null 2>&1 || \
	  echo "note: PyPI tensorboard unavailable (make tensorboard-ref): reading event files back with it will SKIP"
	@fail=0; for t in $(TEST_BIN) $(FUZZ_REPLAY); do \
	  echo "== $$t"; VCLIP_BIN=$(CURDIR)/$(BUILD)/vclip VC_PYTHON=$(PY) $$t || fail=1; done; \
	  if [ $$fail = 0 ]; then echo "all test suites passed"; else echo "SOME TEST SUITES FAILED"; exit 1; fi

# ASan/UBSan build in its own directory. CK_FORK=no keeps one process per suite
# so the sanitizers see the whole run; leak checking stays on. A failed
# allocation returns NULL, as it does in a normal build (vclip turns it into an
# error: the capped check process of data/h5_guard.h relies on that), instead of
# ending in ASan's report.
test-asan:
	CK_FORK=no ASAN_OPTIONS=suppressions=$(CURDIR)/tests/asan.supp:handle_segv=0:allocator_may_return_null=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(MAKE) test BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"

# ThreadSanitizer (clang) in build-tsan/, on the suites that run threads: the
# loader's prefetch thread (test_loader), encode-video's decoder thread
# (test_encode, through build-tsan/vclip), OpenMP kernels (test_tensor,
# test_clip) and the HDF5 guard's watchdog (test_damage). OpenMP runs on
# clang's libomp with its Archer tool, which tells TSan about OpenMP's
# barriers (libgomp is not instrumented); libomp's own locking is not
# instrumented either, so TSan ignores what uninstrumented modules do
# (ignore_noninstrumented_modules=1, what Archer asks for). BLAS is the
# serial reference library, so no uninstrumented thread touches vclip's
# memory. handle_segv=0 and handle_abort=0 leave the crashes that
# test_damage makes on purpose to vclip's own handler; a failed allocation
# returns NULL as in a normal build (see test-asan). Every
# process's reports (the tests start vclip) go to build-tsan/tsan/; any
# report fails the target. tests/tsan.supp explains each suppression.
TSAN_SUITES ?= test_loader test_tensor test_clip test_encode test_damage
ARCHER := $(firstword $(wildcard /usr/lib/llvm-*/lib/libarcher.so))
REF_BLAS := /usr/lib/x86_64-linux-gnu/blas
.PHONY: test-tsan tsan-run
test-tsan:
	@$(MAKE) --no-print-directory tsan-run BUILD=build-tsan CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN=-fsanitize=thread BLAS_LIBS="-L$(REF_BLAS) -Wl,-rpath,$(REF_BLAS) -lblas"
tsan-run: $(BUILD)/vclip $(TSAN_SUITES:%=$(BUILD)/tests/%) $(BUILD)/tests/h5_fault.so
	@test -n "$(ARCHER)" || { echo "test-tsan: libarcher.so not found (Debian libomp-14-dev)"; exit 1; }
	@rm -rf $(BUILD)/tsan && mkdir -p $(BUILD)/tsan
	@fail=0; for t in $(TSAN_SUITES); do echo "== $$t (ThreadSanitizer)"; \
	  CK_FORK=no OMP_NUM_THREADS=4 OMP_TOOL_LIBRARIES=$(ARCHER) \
	  TSAN_OPTIONS="log_path=$(CURDIR)/$(BUILD)/tsan/report suppressions=$(CURDIR)/tests/tsan.supp \
	    ignore_noninstrumented_modules=1 handle_segv=0 handle_abort=0 allocator_may_return_null=1" \
	  VCLIP_BIN=$(CURDIR)/$(BUILD)/vclip VC_PYTHON=$(PY) $(BUILD)/tests/$$t || fail=1; done; \
	  if [ -n "$$(ls $(BUILD)/tsan)" ]; then cat $(BUILD)/tsan/*; echo "ThreadSanitizer reports: $$(ls $(BUILD)/tsan | wc -l) processes"; fail=1; fi; \
	  if [ $$fail = 0 ]; then echo "test-tsan: no data race reported"; else echo "test-tsan: FAILED"; exit 1; fi

# libFuzzer (clang) with ASan + UBSan in build-fuzz/: every harness for
# FUZZ_SECONDS seconds; fails on any crash, leak, hang or memory blow-up
# (tests/fuzz/run.sh; tests/fuzz/README.md).
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-run
fuzz:
	@$(MAKE) --no-print-directory fuzz-run BUILD=build-fuzz CC=clang OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" EXTRA_CFLAGS=-fsanitize=fuzzer-no-link
fuzz-run: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
	@tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)
$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

# The damaged-dataset campaign (tests/fuzz/h5_campaign.c): DAMAGE_FILES damaged
# HDF5 files through train, eval, embed and search; fails on a crash or hang.
DAMAGE_FILES ?= 2000
.PHONY: damage-campaign
damage-campaign: $(BUILD)/vclip $(BUILD)/fuzz/h5_campaign
	$(BUILD)/fuzz/h5_campaign --vclip $(BUILD)/vclip --files $(DAMAGE_FILES) --keep $(BUILD)/damage-kept
$(BUILD)/fuzz/h5_campaign: $(BUILD)/obj/tests/fuzz/h5_campaign.o $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# OpenBLAS's CORETYPE/L2_SIZE overrides halve its speed on this machine; benchmarks
# run without them (tests and CI keep the environment as it is).
bench: $(BUILD)/vclip $(BENCH_BIN)
	@for b in $(BENCH_BIN); do env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $$b || exit 1; done
	@env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/train_vs_torch.sh $(BUILD)/vclip $(PY)
	@env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/clip_vs_peers.sh $(BUILD)/vclip $(PY)
	@env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/dist_scaling.sh $(BUILD)/vclip

# The ONNX Runtime peer of bench/clip_vs_peers.sh: PyPI's onnxruntime in a
# virtualenv (the script makes it on first use; without PyPI it prints SKIP).
ORT_VENV ?= build/venv-ort
.PHONY: ort-venv
ort-venv:
	@$(ORT_VENV)/bin/python -c 'import onnxruntime, numpy' 2>/dev/null || { rm -rf $(ORT_VENV) && \
	  $(PY) -m venv $(ORT_VENV) && \
	  $(ORT_VENV)/bin/pip install --disable-pip-version-check -q onnxruntime numpy; } || { \
	  echo "ort-venv: cannot install onnxruntime and numpy from PyPI (offline?)"; exit 1; }

# ---- CLIP tokenizer (models/tokenizer.c): libraries, vocabulary, Python reference ----
#   make vocab          bpe_simple_vocab_16e6.txt.gz from PyPI's open_clip_torch wheel
#   make tokenizer-ref  virtualenv build/venv-tok with open_clip's tokenizer (torch not
#                       needed), which tests/test_tokenizer.c compares against
# Both paths are fixed under build/ (test-asan's build-asan uses them too).
TOK_VOCAB_DIR := build/vocab
TOK_VOCAB  := $(TOK_VOCAB_DIR)/bpe_simple_vocab_16e6.txt.gz
TOK_VENV   := build/venv-tok
.PHONY: vocab tokenizer-ref
vocab: $(TOK_VOCAB)
$(TOK_VOCAB):
	tools/fetch-clip-vocab.sh $(TOK_VOCAB_DIR)
tokenizer-ref: $(TOK_VOCAB)
	@$(TOK_VENV)/bin/python tests/ref_tokenizer.py --check 2>/dev/null || { \
	  $(PY) -m venv --system-site-packages $(TOK_VENV) && \
	  $(TOK_VENV)/bin/pip install --no-deps --disable-pip-version-check -q \
	    open_clip_torch==3.3.0 ftfy==6.3.1 regex==2026.11.19 wcwidth==0.9.4; } || { \
	  echo "tokenizer-ref: cannot install open_clip_torch, ftfy, regex from PyPI (offline?);" \
	       "tests/test_tokenizer.c will SKIP its reference comparison"; exit 1; }
	@$(TOK_VENV)/bin/python tests/ref_tokenizer.py --check && echo "tokenizer-ref: $(TOK_VENV) ready"
# ---- end CLIP tokenizer ----

# ---- clip-video-encode shards (tests/test_import.c) ----
#   make wds-ref   virtualenv build/venv-wds with PyPI webdataset 0.1.103, the TarWriter
#                  clip-video-encode 1.3.0 writes its shards with (numpy, h5py: system)
WDS_VENV := build/venv-wds
.PHONY: wds-ref
wds-ref:
	@$(WDS_VENV)/bin/python tests/ref_wds_shards.py --check 2>/dev/null || { \
	  rm -rf $(WDS_VENV) && $(PY) -m venv --system-site-packages $(WDS_VENV) && \
	  $(WDS_VENV)/bin/pip install --no-deps --disable-pip-version-check -q webdataset==0.1.103; } || { \
	  echo "wds-ref: cannot install webdataset 0.1.103 from PyPI (offline?);" \
	       "tests/test_import.c will SKIP its clip-video-encode shard tests"; exit 1; }
	@$(WDS_VENV)/bin/python tests/ref_wds_shards.py --check && echo "wds-ref: $(WDS_VENV) ready"
# ---- end clip-video-encode shards ----

# The TensorBoard reference: build/venv-tb with PyPI tensorboard (NumPy from
# Debian), whose own loader and accumulator read the event files of a run back
# for tests/test_tensorboard.c (which prints SKIP without it).
TB_VENV := build/venv-tb
.PHONY: tensorboard-ref
tensorboard-ref:
	@$(TB_VENV)/bin/python tests/ref_tensorboard.py --check 2>/dev/null || { rm -rf $(TB_VENV) && \
	  $(PY) -m venv --system-site-packages $(TB_VENV) && \
	  $(TB_VENV)/bin/pip install --no-deps --disable-pip-version-check -q \
	    tensorboard==2.20.0 protobuf==6.33.0 absl-py==2.1.0; } || { \
	  echo "tensorboard-ref: cannot install tensorboard from PyPI (offline?);" \
	       "tests/test_tensorboard.c will SKIP reading event files with it"; exit 1; }
	@$(TB_VENV)/bin/python tests/ref_tensorboard.py --check && echo "tensorboard-ref: $(TB_VENV) ready"

# ---- CUDA: one source for nvcc and for the CPU emulator (tensor/cuda/README.md) ----
# Every tensor/cuda/*.cu and tests/cuda/*.cu compiles two ways:
#  - as C++ for the CPU emulator (g++ -x c++ -DVC_CUDA_EMU): with the emulator
#    runtime tensor/cuda/emu_*.cc into $(BUILD)/libvccuda_emu.a, which the
#    emulated tests link with $(CUDA_EMU_LIBS) (tests/test_cuda_emu.c); no nvcc
#    needed, so `make test` runs them everywhere;
#  - with nvcc for $(CUDA_ARCH), every warning an error: `make cuda-check`,
#    which also builds tests/test_cuda_emu.c against the real runtime and
#    cuBLAS (build/nvcc/test_cuda_real, to run on a GPU machine).
# NVCC is nvcc on PATH, else $(CUDA_DEFAULT_HOME)/bin/nvcc; CUDA=0 turns it off.
#   make test-cuda-tsan   the emulated kernels with one OS thread per CUDA
#                         thread under ThreadSanitizer; it must find the planted
#                         races and no other.
CUDA       ?= 1
CUDA_ARCH  ?= sm_90
CUDA_DEFAULT_HOME ?= /usr/local/cuda
ifeq ($(CUDA),0)
NVCC :=
else ifeq ($(origin NVCC),undefined)
NVCC := $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard $(CUDA_DEFAULT_HOME)/bin/nvcc))
endif
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NVCC_FLAGS ?= -std=c++17 -arch=$(CUDA_ARCH) -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror -I.
CU_SRC       := $(wildcard tensor/cuda/*.cu)
CU_TEST_SRC  := $(wildcard tests/cuda/*.cu)
EMU_RT_SRC   := $(wildcard tensor/cuda/emu_*.cc)
# fibers switch stacks: glibc's fortified longjmp checks must stay out
EMU_CXXFLAGS  = -std=c++17 -U_FORTIFY_SOURCE -DVC_CUDA_EMU -Wall -Wextra -Wno-unused-parameter $(OPT) -g $(SAN) \
                -MMD -MP -I. $(PKG_CFLAGS)
EMU_OBJ      := $(EMU_RT_SRC:%.cc=$(BUILD)/emu/%.o) $(CU_SRC:%.cu=$(BUILD)/emu/%.o)
EMU_TEST_OBJ := $(CU_TEST_SRC:%.cu=$(BUILD)/emu/%.o)
CUDA_EMU_LIBS = $(BUILD)/libvccuda_emu.a -lstdc++

$(BUILD)/emu/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c $< -o $@
$(BUILD)/emu/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c $< -o $@
$(BUILD)/libvccuda_emu.a: $(EMU_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/tests/test_cuda_emu.o: CFLAGS += -DVC_CUDA_EMU
$(BUILD)/tests/test_cuda_emu: $(BUILD)/obj/tests/test_cuda_emu.o $(EMU_TEST_OBJ) $(BUILD)/libvccuda_emu.a $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(CUDA_EMU_LIBS) $(BUILD)/libvclip.a $(CHECK_LIBS) $(LDLIBS) -o $@

# nvcc: every .cu, then the test against the real runtime (linked, not run)
NV_OBJ := $(CU_SRC:%.cu=$(BUILD)/nvcc/%.o) $(CU_TEST_SRC:%.cu=$(BUILD)/nvcc/%.o)
$(BUILD)/nvcc/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $@
$(BUILD)/nvcc/tests/test_cuda_emu.o: tests/test_cuda_emu.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -I. -I$(CUDA_HOME)/include $(PKG_CFLAGS) \
	  $(CHECK_CFLAGS) -c $< -o $@
$(BUILD)/nvcc/test_cuda_real: $(NV_OBJ) $(BUILD)/nvcc/tests/test_cuda_emu.o $(BUILD)/libvclip.a
	$(CC) $(filter-out $(CU_KERNEL_SRC:%.cu=$(BUILD)/nvcc/%.o),$^) -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++ \
	  $(CHECK_LIBS) $(LDLIBS) -fopenmp -o $@
.PHONY: cuda-check test-cuda-tsan
ifeq ($(NVCC),)
cuda-check:
	@echo "cuda-check: no nvcc (not on PATH nor /usr/local/cuda/bin, or CUDA=0): no .cu file was compiled"; exit 1
else
cuda-check: $(NV_OBJ) $(BUILD)/nvcc/test_cuda_real $(BUILD)/nvcc/tests/test_backend_ops $(BUILD)/nvcc/tests/test_clip_cuda
	@echo "cuda-check: $(words $(NV_OBJ)) .cu files compiled by $(NVCC) for $(CUDA_ARCH) with warnings as errors;" \
	  "$(BUILD)/nvcc/test_cuda_real, $(BUILD)/nvcc/tests/test_backend_ops and test_clip_cuda (tensor/backend_cuda.c" \
	  "against the toolkit's headers, -Werror) linked against cudart and cuBLAS"
endif

# ---- the CUDA backend (tensor/backend_cuda.c + the k_*.cu launchers) ----
# The library objects that differ with CUDA (the backend registry and the
# backend itself, compiled with -DVC_HAVE_CUDA) replace their plain twins:
#  - emulated: $(BUILD)/libvclip_cuemu.a (-DVC_HAVE_CUDA -DVC_CUDA_EMU), linked
#    with the emulator and the emulated kernels in $(BUILD)/libvccuda_emu.a;
#    the suites in CUDA_EMU_TESTS link it, so they see a "cuda" backend;
#  - real (nvcc found, CUDA != 0): $(BUILD)/libvclip_cuda.a with the nvcc
#    kernels, and $(BUILD)/vclip links it with cudart and cuBLAS;
#  - `make CUDA=0`: build/vclip without CUDA (backend_cuda.c then only says so).
CUDA_BE_SRC   := tensor/backend.c tensor/backend_cuda.c
CU_KERNEL_SRC := $(wildcard tensor/cuda/k_*.cu)
CUDA_EMU_TESTS := test_backend_ops
CUDA_EMU_TESTS += test_cuda_train
CUDA_EMU_TESTS += test_clip_cuda
# tensor/device.c holds the CUDA graph and upload calls of train/step.c
CUDA_BE_SRC += tensor/device.c
# the NCCL comm: built with NCCL in the CUDA libraries (see the NCCL block)
CUDA_BE_SRC += tensor/comm_nccl.c
# g++ fuses a*b+c across statements, which would undo a kernel's __fmul_rn
# (nvcc keeps those unfused): the emulated kernels are compiled without it
$(CU_KERNEL_SRC:%.cu=$(BUILD)/emu/%.o): EMU_CXXFLAGS += -ffp-contract=off
CUEMU_LIB_OBJ := $(filter-out $(CUDA_BE_SRC:%.c=$(BUILD)/obj/%.o),$(LIB_OBJ)) $(CUDA_BE_SRC:%.c=$(BUILD)/cuemu/%.o)
$(BUILD)/cuemu/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DVC_HAVE_CUDA -DVC_CUDA_EMU -c $< -o $@
$(BUILD)/libvclip_cuemu.a: $(CUEMU_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
CUEMU_LINK = -Wl,--start-group $(BUILD)/libvclip_cuemu.a $(BUILD)/libvccuda_emu.a -Wl,--end-group -lstdc++
$(CUDA_EMU_TESTS:%=$(BUILD)/tests/%): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HELP_OBJ) $(BUILD)/libvclip_cuemu.a \
                                      $(BUILD)/libvccuda_emu.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(CUEMU_LINK) $(CHECK_LIBS) $(LDLIBS) -o $@
# test_clip_cuda runs encode-video / encode-text / search / bench with
# --device cuda through $(BUILD)/tests/vclip_cuemu, the vclip program on the
# emulated backend (the NCCL block builds it where MPI is found; here where not)
ifneq ($(MPI_FOUND),1)
$(BUILD)/tests/vclip_cuemu: $(TOOL_OBJ) $(BUILD)/libvclip_cuemu.a $(BUILD)/libvccuda_emu.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(TOOL_OBJ) $(CUEMU_LINK) $(LDLIBS) -o $@
endif
$(BUILD)/tests/test_clip_cuda: $(BUILD)/tests/vclip_cuemu
$(BUILD)/obj/tests/test_clip_cuda.o: CFLAGS += -DVC_CUDA_EMU
ifneq ($(NVCC),)
CUDA_LIB_OBJ := $(filter-out $(CUDA_BE_SRC:%.c=$(BUILD)/obj/%.o),$(LIB_OBJ)) $(CUDA_BE_SRC:%.c=$(BUILD)/nvcc/obj/%.o) \
                $(CU_KERNEL_SRC:%.cu=$(BUILD)/nvcc/%.o)
$(BUILD)/nvcc/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Werror -DVC_HAVE_CUDA -I$(CUDA_HOME)/include -c $< -o $@
$(BUILD)/libvclip_cuda.a: $(CUDA_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
VCLIP_LIB  = $(BUILD)/libvclip_cuda.a
$(BUILD)/vclip: $(BUILD)/libvclip_cuda.a
# cudart statically (it loads the driver on first use) and cuBLAS by dlopen
# at the first product (tensor/backend_cuda.c): vclip on a machine without a
# GPU maps neither (a run under a small address-space limit still starts)
VCLIP_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
# the backend-op suite on the real backend (cuda-check links it; run it on a
# GPU machine: without a GPU it prints SKIP for the cuda backend)
$(BUILD)/nvcc/tests/test_backend_ops: $(BUILD)/obj/tests/test_backend_ops.o $(HELP_OBJ) $(BUILD)/libvclip_cuda.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(BUILD)/libvclip_cuda.a $(CHECK_LIBS) $(LDLIBS) $(VCLIP_LIBS) -o $@
# the CLIP towers' suite on the real backend (gpu_check.sh runs it with
# VCLIP_CUDA_BIN=the bundle's vclip; without a GPU its tests fail at the device)
$(BUILD)/nvcc/obj/tests/test_clip_cuda.o: tests/test_clip_cuda.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Werror -I$(CUDA_HOME)/include -c $< -o $@
$(BUILD)/nvcc/tests/test_clip_cuda: $(BUILD)/nvcc/obj/tests/test_clip_cuda.o $(HELP_OBJ) $(BUILD)/libvclip_cuda.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(BUILD)/libvclip_cuda.a $(CHECK_LIBS) $(LDLIBS) $(VCLIP_LIBS) -o $@
endif

# ThreadSanitizer: its own objects (OS-thread emulator, -fsanitize=thread)
TSAN_DIR    := $(BUILD)/tsan
TSAN_CFLAGS := -fsanitize=thread -O1 -g -MMD -MP -fno-omit-frame-pointer -DVC_CUDA_EMU -DVC_CUDA_EMU_THREADS -I. $(PKG_CFLAGS)
TSAN_OBJ    := $(EMU_RT_SRC:%.cc=$(TSAN_DIR)/%.o) $(filter-out $(CU_KERNEL_SRC:%.cu=$(TSAN_DIR)/%.o),$(CU_SRC:%.cu=$(TSAN_DIR)/%.o)) $(CU_TEST_SRC:%.cu=$(TSAN_DIR)/%.o) \
               $(TSAN_DIR)/tests/test_cuda_emu.o $(TSAN_DIR)/tensor/dtype.o
$(TSAN_DIR)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -U_FORTIFY_SOURCE -Wall -Wextra $(TSAN_CFLAGS) -c $< -o $@
$(TSAN_DIR)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -U_FORTIFY_SOURCE -Wall -Wextra $(TSAN_CFLAGS) -x c++ -c $< -o $@
$(TSAN_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra $(TSAN_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@
$(TSAN_DIR)/test_cuda_emu: $(TSAN_OBJ)
	$(CC) -fsanitize=thread $^ $(CHECK_LIBS) $(BLAS_LIBS) -lstdc++ -lm -lpthread -o $@
# The backend's kernels (tests/test_backend_ops.c against the CPU backend)
# under the same threads, on the ops in TSAN_OPS: the block reductions of
# every row kernel are those of l2norm_fwd and xent_fwd.
TSAN_OPS ?= l2norm_fwd,xent_fwd
TSAN_BE_OBJ := $(addprefix $(TSAN_DIR)/,tests/test_backend_ops.o tests/harness.o $(CUDA_BE_SRC:%.c=%.o) \
                 tensor/backend_cpu.o $(patsubst %.c,%.o,$(wildcard tensor/k_*.c)) tensor/rng.o tensor/status.o \
                 tensor/tensor.o tensor/dtype.o tensor/arena.o tensor/hostmem.o) \
               $(EMU_RT_SRC:%.cc=$(TSAN_DIR)/%.o) $(CU_KERNEL_SRC:%.cu=$(TSAN_DIR)/%.o)
$(CUDA_BE_SRC:%.c=$(TSAN_DIR)/%.o): TSAN_CFLAGS += -DVC_HAVE_CUDA
$(patsubst %.c,$(TSAN_DIR)/%.o,$(wildcard tensor/k_*.c) tensor/backend_cpu.c): TSAN_CFLAGS += -fopenmp
$(CU_KERNEL_SRC:%.cu=$(TSAN_DIR)/%.o): TSAN_CFLAGS += -ffp-contract=off
$(TSAN_DIR)/test_backend_ops: $(TSAN_BE_OBJ)
	$(CC) -fsanitize=thread -fopenmp $^ $(CHECK_LIBS) $(BLAS_LIBS) -lstdc++ -lm -lpthread -o $@
test-cuda-tsan: $(TSAN_DIR)/test_cuda_emu $(TSAN_DIR)/test_backend_ops
	CK_FORK=no OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 $<
	CK_FORK=no OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 VC_OPS=$(TSAN_OPS) \
	  $(TSAN_DIR)/test_backend_ops
# ---- end CUDA ----

# ---- NCCL (tensor/comm_nccl.c; issue 12) ----
# The NCCL comm is part of the CUDA libraries (tensor/comm_nccl.c is in
# CUDA_BE_SRC above), so data-parallel training on CUDA uses it:
#  - real: $(BUILD)/libvclip_cuda.a (build/vclip, the GPU bundle) compiles it
#    against $(NCCL_HOME)/include/nccl.h when that exists (NCCL=0 leaves it
#    out); libnccl.so.2 is loaded with dlopen when a comm first opens, so
#    vclip starts and trains on one device without it;
#  - emulated (with MPI): $(BUILD)/libvclip_cuemu.a compiles it over the CUDA
#    emulator with tensor/cuda/emu_nccl.c (NCCL's collectives done by MPI on
#    host copies of the emulator's device memory); $(BUILD)/tests/vclip_cuemu
#    is vclip linked with it, which tests/test_dist.c trains with under
#    mpirun (device = cuda), and $(BUILD)/tests/nccl_emu_worker checks the
#    comm's collectives; tests/nccl/nccl_abi_check.c checks the emulated API;
#  - make nccl-check: the same sources against the toolkit's nccl.h and cudart
#    (warnings as errors), and $(BUILD)/nvcc/nccl_smoke, a 1-rank NCCL smoke
#    test to run where there is a GPU.
# Without NCCL (or MPI, for the emulated one) the comm only says it is not
# built in, and CUDA training over MPI stages through host memory.
NCCL_HOME ?= $(or $(CUDA_HOME),$(CUDA_DEFAULT_HOME))
NCCL ?= auto
NCCL_H := $(if $(filter-out 0,$(NCCL)),$(wildcard $(NCCL_HOME)/include/nccl.h))
$(BUILD)/nvcc/obj/tensor/comm_nccl.o: CFLAGS += $(if $(NCCL_H),-DVC_HAVE_NCCL -I$(NCCL_HOME)/include)
ifeq ($(MPI_FOUND),1)
$(BUILD)/cuemu/tensor/comm_nccl.o: CFLAGS += -DVC_HAVE_NCCL
$(BUILD)/libvclip_cuemu.a: $(BUILD)/cuemu/tensor/cuda/emu_nccl.o
$(BUILD)/tests/vclip_cuemu: $(TOOL_OBJ) $(BUILD)/libvclip_cuemu.a $(BUILD)/libvccuda_emu.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(TOOL_OBJ) $(CUEMU_LINK) $(LDLIBS) -o $@
test: $(BUILD)/tests/vclip_cuemu
endif
NCCL_EMU_WORKER := $(if $(MPI_FOUND),$(BUILD)/tests/nccl_emu_worker)
NCCL_EMU_OBJ := $(addprefix $(BUILD)/nccl-emu/,tensor/comm_nccl.o tensor/cuda/emu_nccl.o tests/nccl/nccl_emu_worker.o \
                  tests/nccl/nccl_abi_check.o)
$(BUILD)/nccl-emu/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Werror -DVC_CUDA_EMU -DVC_HAVE_NCCL -c $< -o $@
$(BUILD)/tests/nccl_emu_worker: $(NCCL_EMU_OBJ) $(BUILD)/libvccuda_emu.a $(BUILD)/libvclip.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(NCCL_EMU_OBJ) $(CUDA_EMU_LIBS) $(BUILD)/libvclip.a $(LDLIBS) -o $@
test: $(NCCL_EMU_WORKER)
NCCL_REAL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -O2 -g -I. -I$(NCCL_HOME)/include \
                   -DVC_HAVE_NCCL
$(BUILD)/nvcc/nccl/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(NCCL_REAL_CFLAGS) -c $< -o $@
NCCL_REAL_OBJ := $(addprefix $(BUILD)/nvcc/nccl/,tensor/comm_nccl.o tests/nccl/nccl_abi_check.o tests/nccl/nccl_smoke.o)
$(BUILD)/nvcc/nccl_smoke: $(NCCL_REAL_OBJ) $(BUILD)/libvclip.a
	$(CC) $(NCCL_REAL_OBJ) $(BUILD)/libvclip.a -L$(NCCL_HOME)/lib64 -L$(NCCL_HOME)/lib -Wl,-rpath,$(NCCL_HOME)/lib64 \
	  -lnccl -lcudart $(LDLIBS) -fopenmp -o $@
.PHONY: nccl-check
nccl-check:
	@if [ -f $(NCCL_HOME)/include/nccl.h ]; then $(MAKE) --no-print-directory $(BUILD)/nvcc/nccl_smoke && \
	  echo "nccl-check: tensor/comm_nccl.c and the emulated API's check compiled against $(NCCL_HOME)/include/nccl.h" \
	       "with warnings as errors; $(BUILD)/nvcc/nccl_smoke linked against libnccl and cudart (run it on a GPU)"; \
	else echo "nccl-check: no $(NCCL_HOME)/include/nccl.h (set NCCL_HOME): nothing compiled"; exit 1; fi
# ---- end NCCL ----

# ---- GPU bundle (issue 11 section 4) ----
# gpu-bundle/ (ignored): vclip, the CUDA tests and benches built for the lent
# GPU machine with the libraries it lacks; tools/gpu_check.sh runs them there
# (README: "Checking on a lent GPU"). tools/gpu_bundle.sh says how.
.PHONY: gpu-bundle gpu-check-selftest
gpu-bundle:
	tools/gpu_bundle.sh
# the check's own parts here, without a GPU: bench/gpu_vs_torch.py's PyTorch
# half (and vclip's CPU step) on tiny shapes, the parity script cpu vs cpu,
# the 1-rank NCCL training script on the emulated vclip (NCCL over MPI)
gpu-check-selftest: $(BUILD)/vclip $(if $(MPI_FOUND),$(BUILD)/tests/vclip_cuemu)
	$(PY) bench/gpu_vs_torch.py --tiny --device cpu --seconds 0.3 --vclip $(BUILD)/vclip
	STEPS=2 POOLERS="mean lstm" PY=$(PY) tools/gpu_train_parity.sh $(BUILD)/vclip cpu cpu
	STEPS=2 POOLERS="transformer" PREC=bf16 PY=$(PY) tools/gpu_train_parity.sh $(BUILD)/vclip cpu cpu
	$(if $(MPI_FOUND),OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LAUNCH="mpirun -np 1" STEPS=4 PY=$(PY) \
	  tools/gpu_nccl_train.sh $(BUILD)/tests/vclip_cuemu)
# ---- end GPU bundle ----

# The main job on the built-in synthetic dataset (tools/demo.sh).
demo: $(BUILD)/vclip
	VCLIP=$(BUILD)/vclip tools/demo.sh

# The README's two commands on a fresh Debian 12: a debootstrapped root (cached
# under /var/cache/vclip-fresh), a clean clone of HEAD (FRESH_REF=REF for
# another commit), both commands inside it with chroot. Needs root and
# debootstrap; settings and policy in tools/fresh-check.sh.
.PHONY: fresh-check fresh-check-clean
fresh-check:
	tools/fresh-check.sh
fresh-check-clean:
	tools/fresh-check.sh --clean

clean:
	rm -rf build build-asan build-fuzz build-tsan

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
endif
