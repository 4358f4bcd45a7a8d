/* cmd_run.c: `sluice run`: load every plugin and pipeline first (a config
 * error stops everything before anything starts), then hand the pipelines
 * to the supervisor, or run one stage in the foreground with --stage. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "commands_runtime.h"
#include "config_check.h"
#include "fleet.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"
#include "run_lock.h"
#include "service_conf.h"
#include "service_notify.h"
#include "stage.h"
#include "supervisor.h"

#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define SECRET_FILE_MAX (1024 * 1024)

static sluice_log_level default_level = SLUICE_LOG_INFO;
static sluice_log_format default_format = SLUICE_LOG_FORMAT_AUTO;
static int default_level_given;

void sluice_cmd_run_log_defaults(sluice_log_level level, int level_given,
                                 sluice_log_format format)
{
    default_level = level;
    default_level_given = level_given;
    default_format = format;
}

/* Print a configuration error with registered secrets masked (an @file:
 * value read before the error is registered by then). */
static void print_error(const char *text)
{
    char masked[2048];

    sluice_log_mask(text, masked, sizeof(masked));
    fprintf(stderr, "%s\n", masked);
}

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice run [--once] [--stage NAME | --except NAME...]\n"
            "                  [--log-level error|warn|info|debug] [--log-format text|json]\n"
            "                  [--admin-listen ADDR:PORT|off] [--admin-auth-file FILE]\n"
            "                  [--admin-tls-cert FILE --admin-tls-key FILE]\n"
            "                  [--health-crash-loop N] [--health-crash-window SECONDS]\n"
            "                  [--health-stall SECONDS] [--health-dlq-growth N]\n"
            "                  [--health-dlq-window SECONDS] FILE...\n"
            "       sluice run --dir DIR [--pid-file FILE] [--except NAME...] [--log-...]\n"
            "       sluice run [--service-config FILE] [--dir DIR] [--pid-file FILE] [...]\n"
            "Run the pipelines defined in FILE... until stopped (SIGTERM/SIGINT: drain\n"
            "and stop; a second signal: kill at once; SIGHUP stops too). With no FILE\n"
            "and no --dir, run as the service: the settings of " SLUICE_SYSCONFDIR "/sluice.conf\n"
            "(pipelines_dir run as with --dir, state_dir, admin_*, log_level); command-line\n"
            "options win over the environment, which wins over the file.\n"
            "  --service-config FILE  read the service settings from FILE instead\n"
            "  --dir DIR       run every *.cfg of DIR, each its own process group; a\n"
            "                  file that fails to load is refused (logged with FILE:LINE)\n"
            "                  and the others run; SIGHUP or `sluice reload` re-reads DIR:\n"
            "                  new files start, removed ones drain and stop, changed ones\n"
            "                  drain and restart, the others are not touched\n"
            "  --pid-file FILE with --dir or as the service: lock FILE and write the pid\n"
            "                  there for `sluice reload` (default $SLUICE_STATE_DIR/sluice.pid;\n"
            "                  the service sets SLUICE_STATE_DIR to its state_dir if unset)\n"
            "  --once          stop when the sources are exhausted and everything they\n"
            "                  emitted is delivered; print a summary line per pipeline;\n"
            "                  exit 2 if records were parked in the dead-letter queue\n"
            "  --stage NAME    run only stage NAME of the (single) pipeline, in the\n"
            "                  foreground, e.g. on another host (tcp:// endpoints)\n"
            "  --except NAME   start every stage but NAME (it runs elsewhere with --stage)\n"
            "  --admin-listen ADDR:PORT  the admin endpoint: GET /metrics (Prometheus),\n"
            "                  /health, /status, / (status page); default $SLUICE_ADMIN_LISTEN\n"
            "                  or " SLUICE_ADMIN_DEFAULT_LISTEN " (off with --once); `off` disables it.\n"
            "                  A busy port given here is an error (exit 69); a busy default\n"
            "                  is a warning\n"
            "  --admin-auth-file FILE  `user:password` the endpoint requires (basic auth;\n"
            "                  or $SLUICE_ADMIN_AUTH)\n"
            "  --admin-tls-cert FILE, --admin-tls-key FILE  serve HTTPS (PEM files)\n"
            "  --health-crash-loop N, --health-crash-window S  unhealthy when a stage\n"
            "                  crashed N times in S seconds (default %d in %.0f)\n"
            "  --health-stall S  unhealthy when nothing was committed for S seconds while\n"
            "                  batches wait (default %.0f)\n"
            "  --health-dlq-growth N, --health-dlq-window S  unhealthy when more than N\n"
            "                  records were parked in S seconds (default %d in %.0f)\n"
            "Exit status: 0 ok, 1 failed, 2 records rejected (--once), 3 fatal stage\n"
            "error, 64 usage, 69 plugin unavailable or admin port busy, 75 the pipeline\n"
            "already runs (its state_dir is locked by another sluice run), 78\n"
            "configuration error.\n", SLUICE_ADMIN_CRASH_LOOP_CRASHES, SLUICE_ADMIN_CRASH_LOOP_WINDOW_S,
            SLUICE_ADMIN_STALL_S, SLUICE_ADMIN_DLQ_GROWTH, SLUICE_ADMIN_DLQ_WINDOW_S);
}

/* Parse "--log-level" / "--log-format" values into the logger. Returns 0
 * or EXIT_USAGE after a message. */
static int apply_log_option(const char *option, const char *value, sluice_log_level *level,
                            sluice_log_format *format)
{
    if (strcmp(option, "--log-level") == 0) {
        if (sluice_log_level_parse(value, level) != 0) {
            fprintf(stderr, "sluice run: --log-level: unknown level '%s' "
                            "(error, warn, info, debug)\n", value);
            return EXIT_USAGE;
        }
        return 0;
    }
    if (strcmp(value, "text") == 0)
        *format = SLUICE_LOG_FORMAT_TEXT;
    else if (strcmp(value, "json") == 0)
        *format = SLUICE_LOG_FORMAT_JSON;
    else {
        fprintf(stderr, "sluice run: --log-format: expected text or json, got '%s'\n", value);
        return EXIT_USAGE;
    }
    return 0;
}

/* Read a small file (a password or a PEM) into a malloc'd string,
 * without a trailing newline when `chomp`. Returns it, or NULL after a
 * message naming the option and the file. */
static char *read_small_file(const char *option, const char *path, int chomp)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len;

    if (!f) {
        fprintf(stderr, "sluice run: %s %s: %s\n", option, path, strerror(errno));
        return NULL;
    }
    text = malloc(SECRET_FILE_MAX + 1);
    if (!text) {
        fprintf(stderr, "sluice run: out of memory\n");
        goto out;
    }
    len = fread(text, 1, SECRET_FILE_MAX, f);
    if (ferror(f) || len == SECRET_FILE_MAX || len == 0) {
        fprintf(stderr, "sluice run: %s %s: %s\n", option, path,
                ferror(f) ? strerror(errno) : len ? "too large" : "empty");
        free(text);
        text = NULL;
        goto out;
    }
    text[len] = '\0';
    while (chomp && len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
out:
    fclose(f);
    return text;
}

/* Parse a --health-* value: a number in [0, max]. Returns 0 or EXIT_USAGE
 * after a message. */
static int parse_health_value(const char *option, const char *text, double max, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(text, &end);
    if (errno || end == text || *end || !(*out >= 0 && *out <= max)) {
        fprintf(stderr, "sluice run: %s: expected a number from 0 to %.0f, got '%s'\n",
                option, max, text);
        return EXIT_USAGE;
    }
    return 0;
}

/* The admin endpoint's options from the command line: --admin-* and
 * --health-* at argv[*i] (its value consumed). Returns 1 if argv[*i] was
 * one of them, 0 if not, or -EXIT_USAGE after a message. */
static int admin_option(int argc, char **argv, int *i, sluice_admin_options *admin,
                        char **auth, char **cert, char **key, int *listen_given)
{
    const char *arg = argv[*i];
    const char *value;
    double number;
    char **slot = NULL;

    if (strncmp(arg, "--admin-", 8) != 0 && strncmp(arg, "--health-", 9) != 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "sluice run: %s needs a value\n", arg);
        return -EXIT_USAGE;
    }
    value = argv[++*i];
    if (strcmp(arg, "--admin-listen") == 0) {
        admin->listen = value;
        *listen_given = 1;
        return 1;
    }
    if (strcmp(arg, "--admin-auth-file") == 0)
        slot = auth;
    else if (strcmp(arg, "--admin-tls-cert") == 0)
        slot = cert;
    else if (strcmp(arg, "--admin-tls-key") == 0)
        slot = key;
    if (slot) {
        free(*slot);
        *slot = read_small_file(arg, value, slot == auth);
        return *slot ? 1 : -EXIT_USAGE;
    }
    if (parse_health_value(arg, value, 1e9, &number) != 0)
        return -EXIT_USAGE;
    if (strcmp(arg, "--health-crash-loop") == 0)
        admin->health.crash_loop_crashes = (unsigned)number;
    else if (strcmp(arg, "--health-crash-window") == 0)
        admin->health.crash_loop_window_s = number;
    else if (strcmp(arg, "--health-stall") == 0)
        admin->health.stall_s = number;
    else if (strcmp(arg, "--health-dlq-growth") == 0)
        admin->health.dlq_growth = (unsigned)number;
    else if (strcmp(arg, "--health-dlq-window") == 0)
        admin->health.dlq_window_s = number;
    else {
        fprintf(stderr, "sluice run: unknown option '%s'\n", arg);
        return -EXIT_USAGE;
    }
    return 1;
}

/* Open the admin endpoint for a supervised run (not --stage). Returns 0
 * with *out set (NULL: none), or the exit code after a message. */
static int open_admin(sluice_admin_options *admin, int listen_given, int once,
                      sluice_admin **out)
{
    char errbuf[512];

    *out = NULL;
    if (!listen_given) {
        const char *env = getenv("SLUICE_ADMIN_LISTEN");
        admin->listen = env && *env ? env : once ? "off" : SLUICE_ADMIN_DEFAULT_LISTEN;
        listen_given = env && *env;
    }
    if (!admin->basic_auth && getenv("SLUICE_ADMIN_AUTH") && *getenv("SLUICE_ADMIN_AUTH"))
        admin->basic_auth = getenv("SLUICE_ADMIN_AUTH");
    if (admin->basic_auth && !strchr(admin->basic_auth, ':')) {
        fprintf(stderr, "sluice run: the admin endpoint's credentials must read "
                        "user:password\n");
        return EXIT_USAGE;
    }
    if (admin->basic_auth)
        sluice_log_add_secret(admin->basic_auth);
    *out = sluice_admin_open(admin, errbuf, sizeof(errbuf));
    if (*out || !errbuf[0])
        return 0;
    if (!listen_given && strstr(errbuf, "cannot listen")) {
        sluice_log_write(NULL, NULL, SLUICE_LOG_WARN, "no admin endpoint: %s", errbuf);
        return 0;
    }
    fprintf(stderr, "sluice run: %s\n", errbuf);
    return strstr(errbuf, "cannot listen") ? EXIT_UNAVAILABLE : EXIT_USAGE;
}

/* `sluice run --dir DIR`: the fleet (fleet.h), with the default pid file
 * unless `pid_file` is given. Returns the exit status. */
static int run_dir(const char *dir, const char *pid_file, const sluice_run_options *run)
{
    sluice_fleet_options opts = {.dir = dir, .pid_file = pid_file, .run = *run,
                                 .notify = sluice_service_notify};
    char default_pid_file[4096];
    sluice_registry *reg = sluice_registry_new();
    int result;

    if (!reg) {
        fprintf(stderr, "sluice run: out of memory\n");
        return 1;
    }
    if (!pid_file && sluice_fleet_default_pid_file(default_pid_file,
                                                   sizeof(default_pid_file)) != 0) {
        fprintf(stderr, "sluice run: the default pid file's path is too long; "
                        "give --pid-file\n");
        result = EXIT_USAGE;
        goto out;
    }
    if (!pid_file)
        opts.pid_file = default_pid_file;
    result = sluice_fleet_run(&opts, reg);
out:
    sluice_registry_destroy(&reg);
    return result;
}

/* The service settings for a fleet run: `path` (NULL: the default file,
 * which must then exist) read into *conf, and its state_dir handed to the
 * pipelines (SLUICE_STATE_DIR, unless the environment sets it). Returns
 * 0, or the exit status after a message: 64 when the default file is
 * missing, 78 with every FILE:LINE error of the file, 1 if the
 * environment cannot be set. */
static int read_service_conf(const char *path, sluice_service_conf *conf)
{
    const char *file = path ? path : sluice_service_conf_default_path();
    sluice_error *err = malloc(sizeof(*err));
    const char *old_level = getenv("SLUICE_LOG_LEVEL");
    int result = 0;

    if (!err) {
        fprintf(stderr, "sluice run: out of memory\n");
        return 1;
    }
    if (!path && access(file, F_OK) != 0) {
        fprintf(stderr, "sluice run: no FILE or --dir given, and no service settings: %s: %s\n"
                        "(give FILE..., --dir DIR or --service-config FILE)\n",
                file, strerror(errno));
        result = EXIT_USAGE;
        goto out;
    }
    if (sluice_service_conf_read(file, conf, err) != 0) {
        sluice_error_print(err, stderr, "");
        result = SLUICE_EXIT_CONFIG;
        goto out;
    }
    if (sluice_service_conf_export_state_dir(conf) != 0) {
        fprintf(stderr, "sluice run: cannot set SLUICE_STATE_DIR: %s\n", strerror(errno));
        result = 1;
        goto out;
    }
    /* the unit of earlier versions passed it to --log-level */
    if (old_level && old_level[0])
        sluice_log_write(NULL, NULL, SLUICE_LOG_WARN, "SLUICE_LOG_LEVEL is not read: set "
                         "log_level in %s (or give --log-level)", file);
out:
    free(err);
    return result;
}

/* Read the admin file `path` a service setting names (line `line` of
 * conf->file) into *slot, unless the command line filled it. Returns 0,
 * or SLUICE_EXIT_CONFIG after a message naming FILE:LINE. */
static int service_admin_file(const sluice_service_conf *conf, const char *setting,
                              const char *path, int line, char **slot)
{
    char where[PATH_MAX + 96];

    if (*slot || !path[0])
        return 0;
    snprintf(where, sizeof(where), "%s:%d: %s", conf->file, line, setting);
    *slot = read_small_file(where, path, strcmp(setting, "admin_auth_file") == 0);
    return *slot ? 0 : SLUICE_EXIT_CONFIG;
}

/* The admin endpoint's settings of the service file where neither the
 * command line nor the environment gives them (SLUICE_ADMIN_LISTEN,
 * SLUICE_ADMIN_AUTH). Returns 0 or SLUICE_EXIT_CONFIG after a message. */
static int service_admin(const sluice_service_conf *conf, sluice_admin_options *admin,
                         int *listen_given, char **auth, char **cert, char **key)
{
    const char *env_listen = getenv("SLUICE_ADMIN_LISTEN");
    const char *env_auth = getenv("SLUICE_ADMIN_AUTH");

    if (!*listen_given && conf->admin_listen[0] && !(env_listen && *env_listen)) {
        admin->listen = conf->admin_listen;
        *listen_given = 1;
    }
    if (!(env_auth && *env_auth) &&
        service_admin_file(conf, "admin_auth_file", conf->admin_auth_file,
                           conf->admin_auth_file_line, auth) != 0)
        return SLUICE_EXIT_CONFIG;
    if (service_admin_file(conf, "admin_tls_cert", conf->admin_tls_cert,
                           conf->admin_tls_cert_line, cert) != 0 ||
        service_admin_file(conf, "admin_tls_key", conf->admin_tls_key,
                           conf->admin_tls_key_line, key) != 0)
        return SLUICE_EXIT_CONFIG;
    return 0;
}

int sluice_cmd_run(int argc, char **argv)
{
    sluice_run_options opts = {0};
    const char **except = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    const char **files = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *));
    sluice_pipeline_def **defs = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*defs));
    size_t file_count = 0, loaded = 0;
    const char *only_stage = NULL, *dir = NULL, *pid_file = NULL, *service_config = NULL;
    sluice_service_conf *service = NULL;
    int *locks = malloc((size_t)(argc > 0 ? argc : 1) * sizeof(int));
    sluice_log_level level = default_level;
    sluice_log_format format = default_format;
    int level_given = 0, format_given = 0;
    sluice_registry *reg = NULL;
    char errbuf[1024];
    int result = 0;
    sluice_admin_options admin_opts = {0};
    sluice_admin *admin = NULL;
    char *admin_auth = NULL, *admin_cert = NULL, *admin_key = NULL;
    int admin_listen_given = 0;

    if (!except || !files || !defs || !locks) {
        fprintf(stderr, "sluice run: out of memory\n");
        result = 1;
        goto out;
    }
    for (int i = 0; i < (argc > 0 ? argc : 1); i++)
        locks[i] = -1;
    sluice_admin_health_defaults(&admin_opts.health);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int taken = admin_option(argc, argv, &i, &admin_opts, &admin_auth, &admin_cert,
                                 &admin_key, &admin_listen_given);

        if (taken < 0) {
            result = -taken;
            goto out;
        }
        if (taken > 0)
            continue;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            run_usage(stdout);
            goto out;
        } else if (strcmp(arg, "--once") == 0) {
            opts.once = 1;
        } else if (strcmp(arg, "--dir") == 0 || strcmp(arg, "--pid-file") == 0 ||
                   strcmp(arg, "--service-config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice run: %s needs a value\n", arg);
                result = EXIT_USAGE;
                goto out;
            }
            if (strcmp(arg, "--dir") == 0)
                dir = argv[++i];
            else if (strcmp(arg, "--pid-file") == 0)
                pid_file = argv[++i];
            else
                service_config = argv[++i];
        } else if (strcmp(arg, "--stage") == 0 || strcmp(arg, "--except") == 0 ||
                   strcmp(arg, "--log-level") == 0 || strcmp(arg, "--log-format") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sluice run: %s needs a value\n", arg);
                result = EXIT_USAGE;
                goto out;
            }
            if (strcmp(arg, "--stage") == 0)
                only_stage = argv[++i];
            else if (strcmp(arg, "--except") == 0)
                except[opts.except_count++] = argv[++i];
            else {
                result = apply_log_option(arg, argv[++i], &level, &format);
                if (result != 0)
                    goto out;
                if (strcmp(arg, "--log-level") == 0)
                    level_given = 1;
                else
                    format_given = 1;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "sluice run: unknown option '%s'\n", arg);
            run_usage(stderr);
            result = EXIT_USAGE;
            goto out;
        } else {
            files[file_count++] = arg;
        }
    }
    /* the service: no FILE and no --dir, or its settings named */
    if (service_config || (!dir && file_count == 0 && !only_stage)) {
        service = malloc(sizeof(*service));
        if (!service) {
            fprintf(stderr, "sluice run: out of memory\n");
            result = 1;
            goto out;
        }
        if (file_count > 0 || only_stage || opts.once) {
            fprintf(stderr, "sluice run: the service (--service-config) takes no FILE, "
                            "--stage or --once\n");
            run_usage(stderr);
            result = EXIT_USAGE;
            goto out;
        }
        result = read_service_conf(service_config, service);
        if (result == 0)
            result = service_admin(service, &admin_opts, &admin_listen_given, &admin_auth,
                                   &admin_cert, &admin_key);
        if (result != 0)
            goto out;
        if (!dir)
            dir = service->pipelines_dir;
        if (!level_given && !default_level_given && service->log_level_line > 0) {
            level = service->log_level;
            level_given = 1;
        }
    }
    if (dir || pid_file) {
        if (!dir || file_count > 0 || only_stage || opts.once) {
            fprintf(stderr, "sluice run: %s\n", !dir ? "--pid-file goes with --dir"
                    : "--dir takes no FILE, --stage or --once");
            run_usage(stderr);
            result = EXIT_USAGE;
            goto out;
        }
        opts.except = except;
        if (level_given || format_given)
            sluice_log_setup(level, format);
        admin_opts.basic_auth = admin_auth;
        admin_opts.tls_cert = admin_cert;
        admin_opts.tls_key = admin_key;
        result = open_admin(&admin_opts, admin_listen_given, 0, &admin);
        if (result != 0)
            goto out;
        opts.admin = admin;
        result = run_dir(dir, pid_file, &opts);
        goto out;
    }
    if (file_count == 0 || (only_stage && (file_count != 1 || opts.except_count > 0))) {
        fprintf(stderr, file_count == 0 ? "sluice run: no pipeline FILE given\n"
                                        : "sluice run: --stage takes exactly one FILE and "
                                          "no --except\n");
        run_usage(stderr);
        result = EXIT_USAGE;
        goto out;
    }
    opts.except = except;
    if (level_given || format_given)
        sluice_log_setup(level, format);

    /* Everything is loaded before anything starts: libltdl is not
     * thread-safe, and forked children inherit the loaded modules. */
    reg = sluice_registry_new();
    if (!reg) {
        fprintf(stderr, "sluice run: out of memory\n");
        result = 1;
        goto out;
    }
    for (size_t f = 0; f < file_count; f++) {
        sluice_error err;
        int rc = sluice_pipeline_require_plugins(files[f], reg, &err);

        if (rc == 0 && sluice_pipeline_load(files[f], reg, &defs[f], &err) != 0)
            rc = SLUICE_EXIT_CONFIG;
        if (rc != 0) {
            sluice_error_print(&err, stderr, "");
            result = rc;
            goto out;
        }
        loaded++;
    }
    for (size_t f = 0; f < file_count; f++) {
        for (size_t g = f + 1; g < file_count; g++) {
            if (strcmp(defs[f]->name, defs[g]->name) == 0) {
                fprintf(stderr, "%s: pipeline name '%s' is already used by %s\n",
                        defs[g]->file, defs[g]->name, defs[f]->file);
                result = SLUICE_EXIT_CONFIG;
                goto out;
            }
        }
        for (size_t e = 0; e < opts.except_count; e++) {
            if (!sluice_pipeline_stage(defs[f], except[e])) {
                fprintf(stderr, "%s: --except %s: no such stage in pipeline '%s'\n",
                        defs[f]->file, except[e], defs[f]->name);
                result = SLUICE_EXIT_CONFIG;
                goto out;
            }
        }
    }
    if (only_stage && !sluice_pipeline_stage(defs[0], only_stage)) {
        fprintf(stderr, "%s: --stage %s: no such stage in pipeline '%s'\n", defs[0]->file,
                only_stage, defs[0]->name);
        result = SLUICE_EXIT_CONFIG;
        goto out;
    }
    if (sluice_run_prepare(defs, file_count, errbuf, sizeof(errbuf)) != 0) {
        print_error(errbuf);
        result = SLUICE_EXIT_CONFIG;
        goto out;
    }
    if (only_stage) {
        /* no lock: the other stages may run on this host under another
         * `sluice run` (--except) with the same state_dir */
        result = sluice_run_stage(defs[0], only_stage, opts.once);
        goto out;
    }
    /* Every lock before any fork or port: a second run of a pipeline
     * leaves before it starts anything or touches a socket. */
    for (size_t f = 0; f < file_count; f++) {
        int busy;

        locks[f] = sluice_pipeline_lock(defs[f], &busy, NULL, errbuf, sizeof(errbuf));
        if (locks[f] < 0) {
            fprintf(stderr, "sluice run: %s\n", errbuf);
            result = busy ? SLUICE_EXIT_BUSY : SLUICE_EXIT_FAILED;
            goto out;
        }
    }
    opts.locks = locks;
    admin_opts.basic_auth = admin_auth;
    admin_opts.tls_cert = admin_cert;
    admin_opts.tls_key = admin_key;
    result = open_admin(&admin_opts, admin_listen_given, opts.once, &admin);
    if (result != 0)
        goto out;
    opts.admin = admin;
    result = sluice_run_pipelines(defs, file_count, &opts);
out:
    for (size_t f = 0; locks && f < file_count; f++)
        sluice_pipeline_unlock(&locks[f]);
    free(locks);
    sluice_admin_close(&admin);
    free(admin_auth);
    free(admin_cert);
    free(admin_key);
    free(service);
    for (size_t f = 0; f < loaded; f++)
        sluice_pipeline_free(&defs[f]);
    sluice_registry_destroy(&reg);
    free(defs);
    free(files);
    free(except);
    return result;
}
