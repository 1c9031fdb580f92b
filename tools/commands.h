/* commands.h: the vclip subcommands. Each lives in tools/cmd_NAME.c and
 * returns the process exit status; tools/ is the only layer that prints. */
#ifndef VC_COMMANDS_H
#define VC_COMMANDS_H

#define VCLIP_VERSION "0.1.0"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);  /* argv[0] is the subcommand name */
    const char *usage;                  /* one line: arguments */
    const char *summary;                /* one line: what it does */
} vc_command;

/* Prints "vclip NAME: MESSAGE" to stderr; returns 1 (the failure exit code). */
int vc_cmd_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
