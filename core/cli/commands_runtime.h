/* commands_runtime.h: the `sluice run` command (cmd_run.c). */
#ifndef SLUICE_COMMANDS_RUNTIME_H
#define SLUICE_COMMANDS_RUNTIME_H

#include "log.h"

/* The global --log-level/--log-format given before the command, so that
 * `sluice run` options change only what they name. */
void sluice_cmd_run_log_defaults(sluice_log_level level, sluice_log_format format);

/* `sluice run [--once] [--stage NAME | --except NAME...] [--log-level L]
 * [--log-format text|json] FILE...`; argv[0] is "run". Returns the process
 * exit status (0, 1, 2, 3, 64 usage, 69 plugin unavailable, 78 config,
 * 128+signal after a forced stop). */
int sluice_cmd_run(int argc, char **argv);

/* `sluice status [PIPELINE]`: the table (or JSON) of a running `sluice
 * run`'s admin endpoint (cmd_status.c). Returns the exit status. */
int sluice_cmd_status(int argc, char **argv);
#endif
