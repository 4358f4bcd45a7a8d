/* service_conf.h: the service settings file, $(sysconfdir)/sluice/sluice.conf
 * (libconfig syntax, like the pipelines): where the client pipelines are
 * (pipelines_dir), the parent of their state (state_dir), the admin
 * endpoint (admin_listen, admin_auth_file, admin_tls_cert, admin_tls_key)
 * and the log level. `sluice run` reads it when given no FILE and no --dir,
 * `sluice check` when given no FILE, `sluice reload` to find the pid file;
 * --service-config FILE names another. Command-line options win over the
 * environment (SLUICE_STATE_DIR, SLUICE_ADMIN_LISTEN, SLUICE_ADMIN_AUTH),
 * which wins over the file, which wins over the built-in defaults
 * (docs/operations.md "Service settings"). Implemented in service_conf.c. */
#ifndef SLUICE_SERVICE_CONF_H
#define SLUICE_SERVICE_CONF_H

#include <limits.h>

#include "log.h"
#include "pipeline.h"

/* The service settings, each with the line of the file that set it (0:
 * not in the file, the built-in default holds). Paths are absolute: a
 * relative one in the file is taken from the file's directory. */
typedef struct sluice_service_conf {
    char file[PATH_MAX];           /* the file read */
    char pipelines_dir[PATH_MAX];  /* default SLUICE_SYSCONFDIR/pipelines.d */
    int pipelines_dir_line;
    char state_dir[PATH_MAX];      /* default SLUICE_STATEDIR */
    int state_dir_line;
    char admin_listen[256];        /* "" when not set (the command's default) */
    int admin_listen_line;
    char admin_auth_file[PATH_MAX]; /* "" when not set */
    int admin_auth_file_line;
    char admin_tls_cert[PATH_MAX]; /* "" when not set */
    int admin_tls_cert_line;
    char admin_tls_key[PATH_MAX];  /* "" when not set */
    int admin_tls_key_line;
    sluice_log_level log_level;    /* SLUICE_LOG_INFO when not set */
    int log_level_line;
} sluice_service_conf;

/* The settings file read when none is named: SLUICE_SYSCONFDIR/sluice.conf
 * (configure's sysconfdir). A static string. */
const char *sluice_service_conf_default_path(void);

/* Read the settings of `path` into *conf (the built-in defaults first,
 * then what the file sets). Every error is added to err as "FILE:LINE:
 * message" (a syntax error, an unknown setting with a "did you mean", a
 * value of the wrong type, a log level, address or path that cannot be
 * used: pipelines_dir must be a directory, the admin files readable);
 * reading goes on after an error so that all are reported, and the
 * settings without one are filled in. Returns 0, or SLUICE_EXIT_CONFIG
 * when anything was wrong (err cleared first). */
int sluice_service_conf_read(const char *path, sluice_service_conf *conf, sluice_error *err);

/* Hand the state_dir of `conf` to the pipelines this process loads and
 * runs: SLUICE_STATE_DIR is set to it unless the environment already sets
 * it (non-empty), which then wins. Returns 0, or -1 with errno set when
 * setenv fails. */
int sluice_service_conf_export_state_dir(const sluice_service_conf *conf);
#endif
