/*
 * cli.h - the `hierbert` command-line tool: one function per subcommand,
 * each taking the arguments after its name (argv[0] is the subcommand) and
 * returning the process exit code (0 ok, 1 failed, 2 usage). A subcommand
 * prints its own --help and its one-line reason on failure.
 */
#ifndef HB_CLI_H
#define HB_CLI_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* The table, in coordinator/cli.c; one line per subcommand. */
extern const cli_command cli_commands[];

#endif
