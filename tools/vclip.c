/* vclip: the command-line program. Dispatches to the subcommands in
 * tools/cmd_*.c; add a command by adding its row to `commands`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "tensor/device.h"
#include "tensor/comm.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const vc_command commands[] = {
    {"help", cmd_help, "[COMMAND]", "show the commands, or one command's usage"},
    {"version", cmd_version, "", "print the vclip version and build configuration"},
    {"train", vc_cmd_train, "CONFIG.ini [--set section.key=value ...] [--resume]",
     "train a pooler contrastively (run directory: config, log.jsonl, checkpoints)"},
    {"eval", vc_cmd_eval,
     "CONFIG.ini [--set section.key=value ...] [--checkpoint CKPT] [--split train|val|test|all] [--json OUT] "
     "[--device cpu|cuda|cuda:N]",
     "retrieval recall (t2v, v2t) and zero-shot classification of a model"},
    {"export", vc_cmd_export, "CKPT --out POOLER.safetensors",
     "write the pooler weights and model config alone (models/README.md; tools/vclip_torch.py loads it)"},
    {"embed", vc_cmd_embed,
     "CKPT --data DATA.h5 --out VIDEOS.h5 [--split train|val|test|all] [--batch B] [--set section.key=value ...] "
     "[--device cpu|cuda|cuda:N]",
     "pooled, normalised video embeddings (and text-head-mapped captions) for search (data/FORMAT.md)"},
    {"plot", vc_cmd_plot, "RUN_DIR... --out FILE.png [--width W] [--height H] (1 to 10 run directories)",
     "draw training loss and validation mean R@1 against step, one line per run, into a PNG"},
    {"compare", vc_cmd_compare, "RESULT.json ... (1 to 16 files from vclip eval --json)",
     "print eval results (vclip eval --json) side by side"},
    {"bench", vc_cmd_bench,
     "train [--model NAME --batch B --frames T --dim D --layers L --heads H --seconds S --precision fp32|bf16 "
     "--profile --device cpu|cuda|cuda:N --tf32 --grad-bucket-mb MB] | "
     "encode-image --clip FILE|random [--batch B --seconds S --act quickgelu|gelu --precision fp32|bf16|fp16 "
     "--device cpu|cuda|cuda:N] [--save FILE]",
     "time training steps (samples/s) or the CLIP image tower (images/s) on random data"},
    {"import-wds", vc_cmd_import_wds,
     "(--out DATA.h5 | --out-dir DIR [--shards-per-file K] [--jobs J]) [--dtype f16|f32] "
     "[--splits CSV | --split-ratio TR,VA,TE --seed S] [--dim D] [--gzip N] "
     "[--clip-model NAME] [--fps F] [--labels-from-text | --caption-sep SEP] [--strict] [--verbose] SHARD.tar[.gz] ...",
     "import WebDataset shards of KEY.npy (+ KEY.txt, KEY.json) frame embeddings (--out-dir: a file per K "
     "shards, J at once, restartable)"},
    {"import-npy", vc_cmd_import_npy,
     "--out DATA.h5 [--dtype f16|f32] [--split-ratio TR,VA,TE --seed S] [--dim D] [--gzip N] [--clip-model NAME] "
     "[--fps F] [--labels-from-text | --caption-sep SEP] [--strict] [--verbose] DIR",
     "import a directory of KEY.npy frame embeddings (+ KEY.txt captions, KEY.json metadata)"},
    {"info", vc_cmd_info, "FILE...", "validate embeddings files (every value) and print what they hold, and their totals"},
    {"synth", vc_cmd_synth,
     "--out DATA.h5 [--videos N] [--dim D] [--min-frames A] [--max-frames B] [--events K] [--seed S] "
     "[--dtype f16|f32] [--gzip N]",
     "write the synthetic dataset whose captions depend on the order of events"},
    {"encode-video", vc_cmd_encode_video,
     "--clip CLIP.safetensors --out DATA.h5 [--fps F] [--act quickgelu|gelu] [--batch B] [--dtype f16|f32] "
     "[--ids stem|path] [--clip-model NAME] [--captions CSV] [--vocab FILE] [--split-ratio TR,VA,TE [--seed S]] "
     "[--precision fp32|bf16|fp16] [--device cpu|cuda|cuda:N] [--decode-threads N] (VIDEO... | --list FILE)",
     "decode videos and encode their frames (and captions) with CLIP into an embeddings file"},
    {"encode-text", vc_cmd_encode_text,
     "--clip CLIP.safetensors --data DATA.h5 [--vocab FILE] [--act quickgelu|gelu] [--batch B] [--templates FILE] "
     "[--precision fp32|bf16|fp16] [--device cpu|cuda|cuda:N]",
     "fill a file's caption and class embeddings with the CLIP text tower, in place, atomically"},
    {"search", vc_cmd_search,
     "--clip CLIP.safetensors --data DATA.h5 [--checkpoint CKPT] [--moments] [--top K] [--vocab FILE] "
     "[--act quickgelu|gelu] [--precision fp32|bf16|fp16] [--device cpu|cuda|cuda:N] QUERY",
     "rank the videos (or moments within them) of a file for a text query"},
};
static const int n_commands = sizeof commands / sizeof commands[0];

const char *vc_cmd_usage(const char *name) {
    static char line[640];
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) {
            snprintf(line, sizeof line, "usage: vclip %s %s", name, commands[i].usage);
            return line;
        }
    return "usage: run 'vclip help'";
}

int vc_cmd_error(const char *cmd, const char *fmt, ...) {
    /* formatted whole and written in one call, so the lines of several
     * ranks (mpirun merges their stderr) never interleave */
    char line[2048];
    int n = snprintf(line, sizeof line, "vclip %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && n < (int)sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fflush(stderr);
    ssize_t w = write(2, line, len);
    (void)w;
    return 1;
}

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("vclip %s (CPU: OpenBLAS + OpenMP; built %s)\n", VCLIP_VERSION, __DATE__);
    const char *mpi = vc_comm_mpi_version(), *nccl = vc_comm_nccl_version();
    printf("MPI: %s\n", mpi ? mpi : "not built in (single process only)");
    printf("NCCL: %s\n", nccl ? nccl : "not built in");
    char cu[160];
    printf("CUDA: %s\n", vc_device_cuda_info(cu, sizeof cu));
    return 0;
}

static int cmd_help(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 0; i < n_commands; i++)
            if (strcmp(commands[i].name, argv[1]) == 0) {
                printf("usage: vclip %s %s\n  %s\n", commands[i].name, commands[i].usage, commands[i].summary);
                const char *more = vc_cmd_import_help(commands[i].name);
                if (more) printf("\n%s", more);
                return 0;
            }
        return vc_cmd_error("help", "unknown command '%s' (run 'vclip help')", argv[1]);
    }
    printf("vclip %s: video-text CLIP poolers in C\n\nusage: vclip COMMAND [ARGS]\n\ncommands:\n", VCLIP_VERSION);
    for (int i = 0; i < n_commands; i++) printf("  %-12s %s\n", commands[i].name, commands[i].summary);
    printf("\nrun 'vclip help COMMAND' for a command's arguments\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cmd_help(1, argv);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return cmd_help(1, argv);
    if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv);
    /* the commands that run matrix products (tools/limits.c) */
    static const char *const computes[] = {"train", "eval", "embed", "search", "encode-video", "encode-text", "bench"};
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0) {
            for (size_t k = 0; k < sizeof computes / sizeof *computes; k++)
                if (strcmp(argv[1], computes[k]) == 0) vc_cmd_blas_warmup();
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "vclip: unknown command '%s' (run 'vclip help')\n", argv[1]);
    return 2;
}
