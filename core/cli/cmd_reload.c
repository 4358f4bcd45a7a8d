/* cmd_reload.c: `sluice reload`: ask the running `sluice run --dir` to
 * re-read its directory, by SIGHUP to the pid its pid file holds. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "commands_runtime.h"
#include "fleet.h"
#include "run_lock.h"

#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69

/* Print the usage of `sluice reload` on `out`. */
static void reload_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice reload [--pid-file FILE]\n"
            "Ask the `sluice run --dir` holding FILE (default $SLUICE_STATE_DIR/sluice.pid)\n"
            "to re-read its directory (SIGHUP): new files start, removed ones drain and\n"
            "stop, changed ones drain and restart, the others are not touched; a file\n"
            "that fails to load is refused and its running version kept. The outcome is\n"
            "in sluice's log.\n"
            "Exit status: 0 asked, 64 usage, 69 no sluice run holds FILE.\n");
}

int sluice_cmd_reload(int argc, char **argv)
{
    char default_pid_file[4096];
    const char *pid_file = NULL;
    pid_t holder = 0;
    int fd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            reload_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc) {
            pid_file = argv[++i];
            continue;
        }
        fprintf(stderr, "sluice reload: unexpected argument '%s'\n", argv[i]);
        reload_usage(stderr);
        return EXIT_USAGE;
    }
    if (!pid_file) {
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
