/* cmd_reload.c: `sluice reload`: ask the running `sluice run --dir` (or the
 * service) to re-read its directory, by SIGHUP to the pid its pid file
 * holds; the pid file is found as the service finds it (the state_dir of
 * its settings file unless SLUICE_STATE_DIR is set). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "commands_runtime.h"
#include "fleet.h"
#include "run_lock.h"
#include "service_conf.h"

#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69

/* Print the usage of `sluice reload` on `out`. */
static void reload_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice reload [--pid-file FILE | --service-config FILE]\n"
            "Ask the `sluice run --dir` or service holding FILE (default\n"
            "$SLUICE_STATE_DIR/sluice.pid; without SLUICE_STATE_DIR, sluice.pid in the\n"
            "state_dir of the service settings, " SLUICE_SYSCONFDIR "/sluice.conf\n"
            "or the --service-config FILE, when there is one)\n"
            "to re-read its directory (SIGHUP): new files start, removed ones drain and\n"
            "stop, changed ones drain and restart, the others are not touched; a file\n"
            "that fails to load is refused and its running version kept. The outcome is\n"
            "in sluice's log.\n"
            "Exit status: 0 asked, 64 usage, 69 no sluice run holds FILE, 78 the service\n"
            "settings are refused.\n");
}

/* Export the state_dir of the service settings `path` (NULL: the default
 * file, skipped when missing) as SLUICE_STATE_DIR, unless the environment
 * sets it, so that the default pid file is the service's. Returns 0, or
 * the exit status after a message. */
static int service_state_dir(const char *path)
{
    const char *file = path ? path : sluice_service_conf_default_path();
    const char *given = getenv("SLUICE_STATE_DIR");
    sluice_service_conf *conf = NULL;
    sluice_error *err = NULL;
    int result = 0;

    if ((given && given[0]) || (!path && access(file, F_OK) != 0))
        return 0;
    conf = malloc(sizeof(*conf));
    err = malloc(sizeof(*err));
    if (!conf || !err) {
        fprintf(stderr, "sluice reload: out of memory\n");
        result = 1;
        goto out;
    }
    if (sluice_service_conf_read(file, conf, err) != 0) {
        sluice_error_print(err, stderr, "");
        result = SLUICE_EXIT_CONFIG;
        goto out;
    }
    if (sluice_service_conf_export_state_dir(conf) != 0) {
        fprintf(stderr, "sluice reload: cannot set SLUICE_STATE_DIR: %s\n", strerror(errno));
        result = 1;
    }
out:
    free(err);
    free(conf);
    return result;
}

int sluice_cmd_reload(int argc, char **argv)
{
    char default_pid_file[4096];
    const char *pid_file = NULL, *service_config = NULL;
    pid_t holder = 0;
    int fd, rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            reload_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc) {
            pid_file = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--service-config") == 0 && i + 1 < argc) {
            service_config = argv[++i];
            continue;
        }
        fprintf(stderr, "sluice reload: unexpected argument '%s'\n", argv[i]);
        reload_usage(stderr);
        return EXIT_USAGE;
    }
    if (pid_file && service_config) {
        fprintf(stderr, "sluice reload: --pid-file or --service-config, not both\n");
        reload_usage(stderr);
        return EXIT_USAGE;
    }
    if (!pid_file) {
        rc = service_state_dir(service_config);
        if (rc != 0)
            return rc;
        if (sluice_fleet_default_pid_file(default_pid_file, sizeof(default_pid_file)) != 0) {
            fprintf(stderr, "sluice reload: the default pid file's path is too long\n");
            return EXIT_USAGE;
        }
        pid_file = default_pid_file;
    }
    if (access(pid_file, F_OK) != 0) {
        fprintf(stderr, "sluice reload: %s: %s (is sluice run --dir running?)\n", pid_file,
                strerror(errno));
        return EXIT_UNAVAILABLE;
    }
    /* a pid file nobody holds locked is stale: its pid may be anyone's */
    fd = sluice_lock_take(pid_file, &holder);
    if (fd >= 0) {
        close(fd);
        fprintf(stderr, "sluice reload: no sluice run holds %s\n", pid_file);
        return EXIT_UNAVAILABLE;
    }
    if (errno != EWOULDBLOCK || holder <= 0 || kill(holder, SIGHUP) != 0) {
        fprintf(stderr, "sluice reload: cannot signal the sluice run of %s: %s\n", pid_file,
                holder <= 0 ? "no pid in it" : strerror(errno));
        return EXIT_UNAVAILABLE;
    }
    printf("reload asked of sluice (pid %ld); its log says what changed\n", (long)holder);
    return 0;
}
