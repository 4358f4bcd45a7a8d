/* commands_runtime.h: the `sluice run` command (cmd_run.c). */
#ifndef SLUICE_COMMANDS_RUNTIME_H
#define SLUICE_COMMANDS_RUNTIME_H

/* `sluice run [--once] [--stage NAME | --except NAME...] [--log-level L]
 * [--log-format text|json] FILE...`; argv[0] is "run". Returns the process
 * exit status (0, 1, 2, 3, 64 usage, 69 plugin unavailable, 78 config,
 * 128+signal after a forced stop). */
int sluice_cmd_run(int argc, char **argv);
#endif
