/* commands_runtime.h: the `sluice run` command (cmd_run.c). */
#ifndef SLUICE_COMMANDS_RUNTIME_H
#define SLUICE_COMMANDS_RUNTIME_H

#include "log.h"

/* The global --log-level/--log-format given before the command, so that
 * `sluice run` options change only what they name; `level_given` 1 when
 * --log-level was given (it then wins over the service file's log_level). */
void sluice_cmd_run_log_defaults(sluice_log_level level, int level_given,
                                 sluice_log_format format);

/* `sluice run [--once] [--stage NAME | --except NAME...] [--log-level L]
 * [--log-format text|json] FILE...`, `sluice run --dir DIR`, or with
 * neither FILE nor --dir (or with --service-config FILE) the service: the
 * fleet of the service settings' pipelines_dir (service_conf.h); argv[0]
 * is "run". Returns the process
 * exit status (0, 1, 2, 3, 64 usage, 69 plugin unavailable, 78 config,
 * 128+signal after a forced stop). */
int sluice_cmd_run(int argc, char **argv);

/* `sluice reload [--pid-file FILE] [--service-config FILE]` (cmd_reload.c):
 * SIGHUP to the `sluice run --dir` (or service) holding the pid file, found
 * as the service finds it. Returns 0, 64 usage, 69 when no sluice run holds
 * it, 78 when the service settings are refused. */
int sluice_cmd_reload(int argc, char **argv);

/* `sluice status [PIPELINE]`: the table (or JSON) of a running `sluice
 * run`'s admin endpoint (cmd_status.c). Returns the exit status. */
int sluice_cmd_status(int argc, char **argv);
#endif
