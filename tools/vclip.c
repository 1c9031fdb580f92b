/* vclip: the command-line program. Dispatches to the subcommands in
 * tools/cmd_*.c; add a command by adding its row to `commands`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const vc_command commands[] = {
    {"help", cmd_help, "[COMMAND]", "show the commands, or one command's usage"},
    {"version", cmd_version, "", "print the vclip version and build configuration"},
};
static const int n_commands = sizeof commands / sizeof commands[0];

int vc_cmd_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vclip %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("vclip %s (CPU: OpenBLAS + OpenMP; built %s)\n", VCLIP_VERSION, __DATE__);
    return 0;
}

static int cmd_help(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 0; i < n_commands; i++)
            if (strcmp(commands[i].name, argv[1]) == 0) {
                printf("usage: vclip %s %s\n  %s\n", commands[i].name, commands[i].usage, commands[i].summary);
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
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, argv[1]) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vclip: unknown command '%s' (run 'vclip help')\n", argv[1]);
    return 2;
}
