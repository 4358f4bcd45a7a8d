/* config.c: pipeline definitions: the pipeline keys, then every stage
 * (config_stage.c), then the rules across stages (placement, names,
 * endpoints, links, ack timeout) and each plugin's check(); every error
 * reported (config_error.c). Reading the file is config_read.c, printing
 * it config_print.c (docs/configuration.md). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libconfig.h>

#include "config_check.h"
#include "config_link.h"
#include "config_load.h"
#include "curve.h"
#include "options.h"
#include "pipeline.h"
#include "stage_check.h"

/* An unset ack_timeout_ms covers an HTTP transform's silence by this much. */
#define ACK_TIMEOUT_MARGIN_MS 5000L

static const char *const pipeline_keys[] = {
    "name", "state_dir", "runtime_dir", "batch_size", "batch_linger_ms", "window",
    "ack_timeout_ms", "restart", "stages", NULL
};
static const char *const restart_keys[] = {"max", "window_s", "backoff_ms", NULL};

/* Integer member `key` in [min, max], *out untouched when absent.
 * Returns 0 or -1 (error set). */
static int get_integer(load_ctx *lc, const config_setting_t *group, const char *key,
                       long long min, long long max, long long *out)
{
    const config_setting_t *setting = config_setting_get_member(group, key);
    long long value;

    if (!setting)
        return 0;
    if (config_setting_type(setting) != CONFIG_TYPE_INT &&
        config_setting_type(setting) != CONFIG_TYPE_INT64) {
        cfgload_fail_at(lc, setting, "'%s' expects int, got %s", key, cfgload_type_name(setting));
        return -1;
    }
    value = config_setting_get_int64(setting);
    if (value < min || value > max) {
        cfgload_fail_at(lc, setting, "'%s' must be between %lld and %lld, got %lld", key, min, max,
                value);
        return -1;
    }
    *out = value;
    return 0;
}

static const char *role_name(sluice_role role)
{
    switch (role) {
    case SLUICE_ROLE_SOURCE: return "source";
    case SLUICE_ROLE_TRANSFORM: return "transform";
    case SLUICE_ROLE_SINK: return "sink";
    }
    return "plugin";
}

/* A stage with instances > 1: a transform whose plugin says it keeps no
 * state, in processes of its own on derived endpoints. 0 or -1. */
static int check_instances(load_ctx *lc, const config_setting_t *where,
                           const sluice_stage_def *stage)
{
    const config_setting_t *key = config_setting_get_member(where, "instances");
    const char *why = NULL;

    if (stage->plugin->role != SLUICE_ROLE_TRANSFORM)
        why = "only a middle stage (a transform) can run as several instances";
    else if (!(sluice_plugin_flags(stage->plugin) & SLUICE_PLUGIN_STATELESS))
        why = "the plugin keeps state from batch to batch (it does not declare "
              "SLUICE_PLUGIN_STATELESS), so one process must see every batch in order";
    else if (stage->common.group)
        why = "a stage of a placement group is a thread of the group's process; "
              "remove 'group' or set instances = 1";
    else if (stage->common.endpoint)
        why = "each instance binds an endpoint of its own (<stage>.<k>.data); "
              "remove 'endpoint' or set instances = 1";
    else if (stage->common.external)
        why = "an external stage is one process started by hand; set instances = 1";
    if (!why)
        return 0;
    cfgload_fail_at(lc, key ? key : where, "instances = %d: %s", stage->common.instances, why);
    return -1;
}

/* What `sluice run` would bind must not clash (check_stages already
 * refused two equal endpoints with a plainer message). 0 or -1. */
static int check_binds(load_ctx *lc, const config_setting_t *stages,
                       const sluice_pipeline_def *def)
{
    char why[768];
    size_t bad;
    const config_setting_t *where;
    const config_setting_t *endpoint;

    if (sluice_pipeline_check_binds(def, &bad, why, sizeof(why)) == 0)
        return 0;
    where = config_setting_get_elem(stages, (unsigned)bad);
    endpoint = where ? config_setting_get_member(where, "endpoint") : NULL;
    lc->stage = def->stages[bad].name;
    lc->plugin = def->stages[bad].plugin_name;
    cfgload_fail_at(lc, endpoint ? endpoint : where, "%s", why);
    lc->stage = NULL;
    lc->plugin = NULL;
    return -1;
}

/* Hold ack_timeout_ms above the longest silence of a stage that waits on
 * HTTP without heartbeats (sluice_stage_silence_ms: a transform): the
 * source would take that wait for a lost batch, rewind and send the window
 * again, over and over against a hanging server. Left unset it grows to
 * cover the silence (plus a margin); set too low it is an error. 0 or -1. */
static int check_ack_timeout(load_ctx *lc, const config_setting_t *root,
                             sluice_pipeline_def *def)
{
    const config_setting_t *set = config_setting_get_member(root, "ack_timeout_ms");
    long longest = 0;
    size_t worst = 0;

    for (size_t i = 0; i < def->stage_count; i++) {
        long silence = sluice_stage_silence_ms(&def->stages[i], i);
        if (silence > longest) {
            longest = silence;
            worst = i;
        }
    }
    if (longest == 0 || def->ack_timeout_ms > longest)
        return 0;
    if (!set) {
        def->ack_timeout_ms = longest + ACK_TIMEOUT_MARGIN_MS;
        return 0;
    }
    cfgload_fail_at(lc, set, "'ack_timeout_ms' = %ld must be greater than http_timeout_ms + "
            "retry_max_backoff_ms = %ld + %ld of stage '%s' (plugin %s), a transform that "
            "makes HTTP requests: one hung request and the wait before its retry would look "
            "like a lost batch, and the source would rewind and send its window again (raise "
            "ack_timeout_ms, leave it unset, or lower the stage's two timeouts)",
            def->ack_timeout_ms, def->stages[worst].common.http_timeout_ms,
            def->stages[worst].common.retry_max_backoff_ms, def->stages[worst].name,
            def->stages[worst].plugin_name);
    return -1;
}

/* Check placement, unique names and endpoints. 0 or -1. */
static int check_stages(load_ctx *lc, const config_setting_t *stages, sluice_pipeline_def *def)
{
    for (size_t i = 0; i < def->stage_count; i++) {
        const sluice_stage_def *stage = &def->stages[i];
        const config_setting_t *where = config_setting_get_elem(stages, (unsigned)i);
        sluice_role wanted = i == 0 ? SLUICE_ROLE_SOURCE
                             : i + 1 == def->stage_count ? SLUICE_ROLE_SINK
                                                         : SLUICE_ROLE_TRANSFORM;
        lc->stage = stage->name;
        lc->plugin = stage->plugin_name;
        if (stage->plugin->role != wanted) {
            cfgload_fail_at(lc, where, "a %s cannot be %s; the %s must be a %s",
                    role_name(stage->plugin->role),
                    i == 0 ? "the first stage"
                           : wanted == SLUICE_ROLE_SINK ? "the last stage" : "a middle stage",
                    i == 0 ? "first stage" : wanted == SLUICE_ROLE_SINK ? "last stage"
                                                                       : "middle stages",
                    role_name(wanted));
            return -1;
        }
        if (stage->common.instances > 1 && check_instances(lc, where, stage) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(def->stages[j].name, stage->name) == 0) {
                cfgload_fail_at(lc, config_setting_get_member(where, "name"),
                        "stage name already used at %s:%d", def->stages[j].file,
                        def->stages[j].line);
                return -1;
            }
            if (stage->common.endpoint && def->stages[j].common.endpoint &&
                strcmp(stage->common.endpoint, def->stages[j].common.endpoint) == 0) {
                cfgload_fail_at(lc, config_setting_get_member(where, "endpoint"),
                        "endpoint %s already used by stage '%s'", stage->common.endpoint,
                        def->stages[j].name);
                return -1;
            }
        }
    }
    lc->stage = NULL;
    lc->plugin = NULL;
    return check_binds(lc, stages, def);
}

/* Check how every tcp link is secured (curve.c). 0 or -1. */
static int check_links(load_ctx *lc, const config_setting_t *stages,
                       const sluice_pipeline_def *def)
{
    size_t index = 0;
    const char *key = NULL;
    char why[768];
    const config_setting_t *where;

    if (sluice_pipeline_check_links(def, &index, &key, why, sizeof(why)) == 0)
        return 0;
    where = config_setting_get_elem(stages, (unsigned)index);
    lc->stage = def->stages[index].name;
    lc->plugin = def->stages[index].plugin_name;
    cfgload_fail_at(lc, key && config_setting_get_member(where, key)
                    ? config_setting_get_member(where, key) : where, "%s", why);
    return -1;
}

/* Where run_plugin_checks sends a plugin's problems. */
typedef struct plugin_check_ctx {
    load_ctx *lc;
    const config_setting_t *stages;
    const sluice_pipeline_def *def;
} plugin_check_ctx;

/* sluice_check_report_fn: one problem a plugin's check() found, reported
 * at its option's line (the stage's when the option is not set there). */
static void report_plugin_problem(void *user, size_t index, const char *option,
                                  const char *text)
{
    plugin_check_ctx *ctx = user;
    const config_setting_t *where = config_setting_get_elem(ctx->stages, (unsigned)index);
    const config_setting_t *member = option && where ? config_setting_get_member(where, option)
                                                     : NULL;

    ctx->lc->stage = ctx->def->stages[index].name;
    ctx->lc->plugin = ctx->def->stages[index].plugin_name;
    ctx->lc->stage_line = ctx->def->stages[index].line;
    if (option && !member)
        cfgload_fail_at(ctx->lc, where, "option '%s': %s", option, text);
    else
        cfgload_fail_at(ctx->lc, member ? member : where, "%s", text);
}

/* Run the plugin check() (cross-field rules: stage_check.c) of every
 * stage whose stage_ok[i] is set, reporting each problem. 0, or -1 when
 * any was reported. A check() may look at its neighbours' options: those
 * of a stage in error hold what was read without error. */
static int run_plugin_checks(load_ctx *lc, const config_setting_t *stages,
                             const sluice_pipeline_def *def, const unsigned char *stage_ok)
{
    plugin_check_ctx ctx = {lc, stages, def};
    size_t problems = 0;

    for (size_t i = 0; i < def->stage_count; i++) {
        if (stage_ok[i])
            problems += sluice_check_stage_run(def, i, report_plugin_problem, &ctx);
    }
    lc->stage = NULL;
    lc->plugin = NULL;
    lc->stage_line = 0;
    return problems ? -1 : 0;
}

/* Report every member of `group` not in `names`. 0, or -1 if any. */
static int check_known_keys(load_ctx *lc, const config_setting_t *group, const char *what,
                            const char *const *names)
{
    int count = config_setting_length(group);
    int result = 0;

    for (int i = 0; i < count; i++) {
        const config_setting_t *setting = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(setting);
        int known = 0;
        for (size_t j = 0; names[j]; j++)
            known |= strcmp(names[j], key) == 0;
        if (!known) {
            cfgload_fail_unknown(lc, setting, what, names, NULL);
            result = -1;
        }
    }
    return result;
}

/* Read the pipeline-level keys, reporting every error (a key in error
 * keeps its default). 0, or -1 when any was reported. */
static int load_pipeline_keys(load_ctx *lc, const config_setting_t *root,
                              sluice_pipeline_def *def)
{
    const config_setting_t *restart = config_setting_get_member(root, "restart");
    size_t errors_before = lc->err->count;
    long long number;
    char *text;
    int missing;

    check_known_keys(lc, root, "pipeline key", pipeline_keys);
    def->name = cfgload_get_string(lc, root, "name", &missing);
    if (!def->name && missing)
        cfgload_fail_at(lc, root, "pipeline: missing 'name'");
    if (def->name && !cfgload_identifier_valid(def->name))
        cfgload_fail_at(lc, config_setting_get_member(root, "name"),
                "pipeline name must match [A-Za-z0-9_.-]+, got \"%s\"", def->name);
    text = cfgload_get_string(lc, root, "state_dir", &missing);
    if (!text && missing)
        cfgload_fail_at(lc, root, "pipeline: missing 'state_dir'");
    if (text && !*text)
        cfgload_fail_at(lc, config_setting_get_member(root, "state_dir"), "'state_dir' is empty");
    else if (text && !(def->state_dir = cfgload_absolute_path(lc, text)))
        cfgload_fail_at(lc, root, "out of memory");
    free(text);
    text = cfgload_get_string(lc, root, "runtime_dir", &missing);
    if (text && !*text) {
        cfgload_fail_at(lc, config_setting_get_member(root, "runtime_dir"), "'runtime_dir' is empty");
    } else if (text) {
        if (!(def->runtime_dir = cfgload_absolute_path(lc, text)))
            cfgload_fail_at(lc, root, "out of memory");
    } else if (missing && def->state_dir) {
        size_t len = strlen(def->state_dir) + sizeof("/run");
        def->runtime_dir = malloc(len);
        if (def->runtime_dir)
            snprintf(def->runtime_dir, len, "%s/run", def->state_dir);
        else
            cfgload_fail_at(lc, root, "out of memory");
    }
    free(text);

    number = 500;
    get_integer(lc, root, "batch_size", 1, 100000, &number);
    def->batch_size = (size_t)number;
    number = 200;
    get_integer(lc, root, "batch_linger_ms", 0, 60000, &number);
    def->batch_linger_ms = (long)number;
    number = 8;
    get_integer(lc, root, "window", 1, 1024, &number);
    def->window = (int)number;
    number = 30000;
    get_integer(lc, root, "ack_timeout_ms", 100, 86400000, &number);
    def->ack_timeout_ms = (long)number;

    def->restart_max = 5;
    def->restart_window_s = 60;
    def->restart_backoff_ms = 200;
    if (restart && config_setting_type(restart) != CONFIG_TYPE_GROUP) {
        cfgload_fail_at(lc, restart, "'restart' expects group, got %s", cfgload_type_name(restart));
    } else if (restart) {
        check_known_keys(lc, restart, "restart key", restart_keys);
        number = def->restart_max;
        get_integer(lc, restart, "max", 0, 1000, &number);
        def->restart_max = (int)number;
        number = def->restart_window_s;
        get_integer(lc, restart, "window_s", 1, 86400, &number);
        def->restart_window_s = (long)number;
        number = def->restart_backoff_ms;
        get_integer(lc, restart, "backoff_ms", 0, 3600000, &number);
        def->restart_backoff_ms = (long)number;
    }
    return lc->err->count > errors_before ? -1 : 0;
}

int sluice_pipeline_load_flags(const char *path, sluice_registry *reg, unsigned flags,
                               sluice_pipeline_def **out, sluice_error *err)
{
    int result = -1;
    config_t cfg;
    int cfg_ready = 0;
    load_ctx lc = {path, NULL, err, NULL, NULL, 0, NULL, (flags & SLUICE_LOAD_NO_SECRETS) != 0};
    sluice_pipeline_def *def = NULL;
    const config_setting_t *root;
    const config_setting_t *stages;
    int count;
    char include_dir[PATH_MAX];
    unsigned char *stage_ok = NULL; /* per stage: its plugin options read without an error */

    *out = NULL;
    sluice_error_clear(err);
    lc.base_dir = cfgload_directory_of(path);
    if (!lc.base_dir) {
        sluice_error_add(err, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    cfg_ready = 1;
    if (cfgload_read(path, lc.base_dir, include_dir, &cfg, err) != 0)
        goto out;
    lc.include_dir = include_dir;
    def = calloc(1, sizeof(*def));
    if (!def || !(def->file = strdup(path))) {
        sluice_error_add(err, "%s: out of memory", path);
        goto out;
    }
    for (int i = 0; i < config_setting_length(config_root_setting(&cfg)); i++) {
        const config_setting_t *top = config_setting_get_elem(config_root_setting(&cfg),
                                                              (unsigned)i);
        if (strcmp(config_setting_name(top), "pipeline") != 0) {
            static const char *const top_keys[] = {"pipeline", NULL};
            cfgload_fail_unknown(&lc, top, "top-level setting", top_keys, NULL);
            goto out;
        }
    }
    root = config_lookup(&cfg, "pipeline");
    if (!root || config_setting_type(root) != CONFIG_TYPE_GROUP) {
        cfgload_fail_at(&lc, root, "expected 'pipeline = { name = ...; state_dir = ...; stages = (...); };'");
        goto out;
    }
    load_pipeline_keys(&lc, root, def); /* its errors are reported with the stages' */
    stages = config_setting_get_member(root, "stages");
    if (!stages) {
        cfgload_fail_at(&lc, root, "pipeline: missing 'stages'");
        goto out;
    }
    if (config_setting_type(stages) != CONFIG_TYPE_LIST) {
        cfgload_fail_at(&lc, stages, "'stages' expects a list ( {...}, {...} ), got %s",
                cfgload_type_name(stages));
        goto out;
    }
    count = config_setting_length(stages);
    if (count < 2) {
        cfgload_fail_at(&lc, stages, "'stages' needs at least a source and a sink, got %d stage%s",
                count, count == 1 ? "" : "s");
        goto out;
    }
    def->stages = calloc((size_t)count, sizeof(*def->stages));
    if (!def->stages) {
        cfgload_fail_at(&lc, stages, "out of memory");
        goto out;
    }
    stage_ok = calloc((size_t)count, sizeof(*stage_ok));
    if (!stage_ok) {
        cfgload_fail_at(&lc, stages, "out of memory");
        goto out;
    }
    for (int i = 0; i < count; i++) {
        int options_ok;
        lc.stage_index = i + 1;
        lc.stage = NULL;
        lc.plugin = NULL;
        def->stage_count = (size_t)i + 1;
        cfgload_stage(&lc, reg, config_setting_get_elem(stages, (unsigned)i), &def->stages[i],
                   &options_ok);
        stage_ok[i] = (unsigned char)options_ok;
    }
    lc.stage_index = 0;
    lc.stage = NULL;
    lc.plugin = NULL;
    lc.secrets = NULL;
    lc.stage_line = 0;
    /* a plugin's own rules, on every stage whose options were read without
     * an error; the core's rules across stages need every stage read */
    if (!lc.leave_secrets)
        run_plugin_checks(&lc, stages, def, stage_ok);
    if (err->count > 0)
        goto out;
    if (check_stages(&lc, stages, def) != 0 || check_links(&lc, stages, def) != 0 ||
        check_ack_timeout(&lc, root, def) != 0)
        goto out;
    *out = def;
    def = NULL;
    result = 0;
out:
    if (cfg_ready)
        config_destroy(&cfg);
    free(lc.base_dir);
    free(stage_ok);
    sluice_pipeline_free(&def);
    return result;
}

int sluice_pipeline_load(const char *path, sluice_registry *reg, sluice_pipeline_def **out,
                         sluice_error *err)
{
    return sluice_pipeline_load_flags(path, reg, 0, out, err);
}

void sluice_pipeline_free(sluice_pipeline_def **def_p)
{
    sluice_pipeline_def *def;

    if (!def_p || !*def_p)
        return;
    def = *def_p;
    for (size_t i = 0; i < def->stage_count; i++) {
        sluice_stage_def *stage = &def->stages[i];
        free(stage->name);
        free(stage->plugin_name);
        json_decref(stage->config);
        json_decref(stage->secret_values);
        free(stage->common.group);
        free(stage->common.endpoint);
        free(stage->common.ca_file);
        sluice_config_link_free(&stage->common);
        free(stage->file);
    }
    free(def->stages);
    free(def->name);
    free(def->file);
    free(def->state_dir);
    free(def->runtime_dir);
    free(def);
    *def_p = NULL;
}

const sluice_stage_def *sluice_pipeline_stage(const sluice_pipeline_def *def, const char *name)
{
    if (!def || !name)
        return NULL;
    for (size_t i = 0; i < def->stage_count; i++) {
        if (strcmp(def->stages[i].name, name) == 0)
            return &def->stages[i];
    }
    return NULL;
}

