/* commands.h: the vclip subcommands. Each lives in tools/cmd_NAME.c and
 * returns the process exit status; tools/ is the only layer that prints. */
#ifndef VC_COMMANDS_H
#define VC_COMMANDS_H

#include "tensor/precision.h"
#include "tensor/status.h"

#define VCLIP_VERSION "0.1.0"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);  /* argv[0] is the subcommand name */
    const char *usage;                  /* one line: arguments */
    const char *summary;                /* one line: what it does */
} vc_command;

/* "usage: vclip NAME ARGS" from the command table (tools/vclip.c), the one
 * place each command's arguments are written; the string lives until the
 * next call. */
const char *vc_cmd_usage(const char *name);

int vc_cmd_import_wds(int argc, char **argv);  /* tools/cmd_import.c */
int vc_cmd_import_npy(int argc, char **argv);
/* What `vclip help import-wds|import-npy` prints after the usage line (the
 * conventions of the published embedding sets); NULL for other commands. */
const char *vc_cmd_import_help(const char *name);
int vc_cmd_info(int argc, char **argv);   /* tools/cmd_info.c */
int vc_cmd_synth(int argc, char **argv);  /* tools/cmd_synth.c */

int vc_cmd_bench(int argc, char **argv);  /* tools/cmd_bench.c */
int vc_cmd_train(int argc, char **argv);  /* tools/cmd_train.c */
int vc_cmd_eval(int argc, char **argv);   /* tools/cmd_eval.c */
int vc_cmd_compare(int argc, char **argv); /* tools/cmd_compare.c */
int vc_cmd_export(int argc, char **argv); /* tools/cmd_export.c */
int vc_cmd_embed(int argc, char **argv);  /* tools/cmd_embed.c */
int vc_cmd_plot(int argc, char **argv);   /* tools/cmd_plot.c */

int vc_cmd_encode_video(int argc, char **argv); /* tools/cmd_encode.c */
int vc_cmd_encode_text(int argc, char **argv);
int vc_cmd_search(int argc, char **argv);       /* tools/cmd_search.c */

/* tools/h5_safety.c: before a command reads an HDF5 dataset (spec: one path
 * or a [data] file list), checks every file in a child process (cached per file version) and from then on turns a
 * crash or a stall inside libhdf5 into one line naming the file (plus hint,
 * e.g. how to resume) and exit status 1. Returns 0, or 1 after printing
 * the error. vc_cmd_h5_guard installs only the in-run part (`vclip info`
 * has its own child). */
int vc_cmd_h5_prepare(const char *cmd, const char *spec, const char *hint);
/* The same without printing: the error is in vc_last_error() (a run over
 * several processes agrees on it first). spec is one path or a [data] file
 * list (data/dataset.h: commas and glob patterns): every file is checked. */
vc_status vc_cmd_h5_check_files(const char *cmd, const char *spec, const char *hint);
void vc_cmd_h5_guard(const char *cmd, const char *hint);
int vc_cmd_stall_seconds(void); /* VCLIP_H5_STALL_SECONDS (or VCLIP_INFO_STALL_SECONDS), default 60 */

/* tools/limits.c: one small threaded matrix product, so OpenBLAS takes its
 * per-thread buffers before the command's model and data take memory
 * (OpenBLAS retries a failed allocation for ever). */
void vc_cmd_blas_warmup(void);

/* Prints "vclip NAME: MESSAGE" to stderr; returns 1 (the failure exit code). */
int vc_cmd_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* tools/precision.c: --precision fp32|bf16|fp16. The CLIP towers' default
 * ("fp32" or "bf16"); parsing (non-zero after printing the error; the
 * training form refuses fp16, an inference mode); and the one line (once per
 * process, on stderr) when bf16 or fp16 was asked for but the device (the
 * CPU for the plain form) computes in float32. --device cpu|cuda|cuda:N of
 * the CLIP commands: parsed and opened (no such GPU, or no CUDA in this
 * build: the error line, non-zero). */
extern const char *const vc_cmd_clip_precision_default;
int vc_cmd_precision(const char *cmd, const char *value, vc_precision *out);
int vc_cmd_train_precision(const char *cmd, const char *value, vc_precision *out);
void vc_cmd_precision_note(vc_precision asked, vc_precision got);
void vc_cmd_precision_note_on(vc_device d, vc_precision asked, vc_precision got);
int vc_cmd_clip_device(const char *cmd, const char *value, vc_device *out);

#endif
