/* cmd_erase.c: `sluice erase`: queue erasure requests an operator received
 * directly (loyalty ids) into a pipeline, and show the audit trail of the
 * erasures its sinks carried out (docs/erasure.md). Like `sluice dlq`, the
 * pipeline file is read for its state_dir and stage names only, so no
 * secret need be set (SLUICE_LOAD_NO_SECRETS). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "commands_state.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"

#define EXIT_USAGE 64   /* EX_USAGE */
#define EXIT_DATA 65    /* EX_DATAERR */
#define EXIT_NO_INPUT 66 /* EX_NOINPUT */
#define EXIT_IO 74      /* EX_IOERR */
#define ERASE_PREFIX "erase/"
#define ID_MAX 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice erase PIPELINE_FILE --id LOYALTY_ID [--id LOYALTY_ID ...]\n"
            "       sluice erase PIPELINE_FILE --file IDS\n"
            "       sluice erase --status PIPELINE_FILE [--json]\n"
            "\n"
            "--id, --file  queue the erasure of these members (IDS: one loyalty id a line,\n"
            "              blank lines and lines starting with # ignored); a running\n"
            "              pipeline takes them at once, a stopped one on its next run. Each\n"
            "              destination deletes or anonymises the member and drops its later\n"
            "              records until it enrols again after the erasure\n"
            "--status      the erasures the pipeline's sinks took: loyalty id, destination,\n"
            "              state (queued, sent, confirmed, failed), requested and updated\n"
            "              times, origin, reason; --json: a JSON array. No other personal\n"
            "              data is shown\n"
            "\n"
            "The pipeline file is read for its state_dir and stages: secrets (and\n"
            "variables of plugin options) need not be set.\n"
            "\n"
            "exit status: 0 ok, 64 usage, 65 bad id, 66 IDS unreadable, 74 state store\n"
            "error, 78 pipeline configuration error\n");
}

/* Load the pipeline at path (*def, caller frees, whose plugins live in
 * *reg, caller destroys after def) and open its state store (*store, caller
 * closes). Returns an exit status (0 on success). */
static int open_pipeline_store(const char *path, sluice_registry **reg,
                               sluice_pipeline_def **def, sluice_store **store)
{
    sluice_error err;
    char errbuf[1024];

    *reg = sluice_registry_new();
    if (!*reg) {
        fprintf(stderr, "sluice erase: out of memory\n");
        return EXIT_IO;
    }
    if (sluice_pipeline_load_flags(path, *reg, SLUICE_LOAD_NO_SECRETS, def, &err) != 0) {
        sluice_error_print(&err, stderr, "sluice erase: ");
        return SLUICE_EXIT_CONFIG;
    }
    sluice_log_set_origin((*def)->name, NULL); /* for the store's error lines */
    *store = sluice_store_open((*def)->state_dir, errbuf, sizeof(errbuf));
    if (!*store) {
        fprintf(stderr, "sluice erase: %s\n", errbuf);
        return EXIT_IO;
    }
    return 0;
}

/* 1 when `id` can be a loyalty id: 1..ID_MAX bytes, no control character,
 * no space at either end. */
static int id_valid(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > ID_MAX || id[0] == ' ' || id[len - 1] == ' ')
        return 0;
    for (const char *c = id; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    }
    return 1;
}

/* Append `id` to the array ids, refusing a bad one (named with `where`).
 * Returns 0 or EXIT_DATA. */
static int add_id(json_t *ids, const char *id, const char *where)
{
    if (!id_valid(id)) {
        fprintf(stderr, "sluice erase: %s: '%s' is not a loyalty id (1..%d characters, no "
                "control characters or surrounding spaces)\n", where, id, ID_MAX);
        return EXIT_DATA;
    }
    return json_array_append_new(ids, json_string(id)) == 0 ? 0 : EXIT_DATA;
}

/* Read the ids of file `path` (one a line) into ids. Returns 0 or an exit
 * status (66 unreadable, 65 a bad line, named FILE:LINE). */
static int read_ids(const char *path, json_t *ids)
{
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long number = 0;
    int result = 0;

    if (!in) {
        fprintf(stderr, "sluice erase: cannot read %s: %s\n", path, strerror(errno));
        return EXIT_NO_INPUT;
    }
    while (result == 0 && (len = getline(&line, &cap, in)) >= 0) {
        char where[600];
        number++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        snprintf(where, sizeof(where), "%s:%ld", path, number);
        result = add_id(ids, line, where);
    }
    if (result == 0 && ferror(in)) {
        fprintf(stderr, "sluice erase: cannot read %s: %s\n", path, strerror(errno));
        result = EXIT_NO_INPUT;
    }
    free(line);
    fclose(in);
    return result;
}

/* Queue one erase record per id into the stage after the source, in one
 * transaction. Returns an exit status. */
static int queue_erasures(sluice_store *store, const sluice_pipeline_def *def, const json_t *ids)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    size_t i;
    json_t *id;
    int result = EXIT_IO;

    if (def->stage_count < 2) {
        fprintf(stderr, "sluice erase: pipeline '%s' has no stage after its source\n",
                def->name);
        return SLUICE_EXIT_CONFIG;
    }
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (sluice_store_begin(store) != 0)
        goto out;
    json_array_foreach(ids, i, id) {
        json_t *record = json_pack("{s:s,s:O,s:s,s:s}", "kind", "erase", "loyalty_id", id,
                                   "requested_at", now, "via", "cli");
        int64_t row = record ? sluice_store_replay_inject(store, def->stages[1].name, record,
                                                          "erasure queued by sluice erase")
                             : -1;
        json_decref(record);
        if (row < 0) {
            sluice_store_end(store, 0);
            goto out;
        }
    }
    if (sluice_store_end(store, 1) != 0)
        goto out;
    printf("%zu erasure(s) queued into pipeline '%s' (requested at %s): a running pipeline "
           "takes them at once, a stopped one on its next run; see sluice erase --status\n",
           json_array_size(ids), def->name, now);
    result = 0;
out:
    if (result != 0)
        fprintf(stderr, "sluice erase: cannot queue the erasures in the state store\n");
    return result;
}

/* The members of an audit entry that may be shown: no PII but the id. */
static const char *const SHOWN[] = {"loyalty_id", "destination", "state", "requested_at",
                                    "updated_at", "via", "reason", "request_id", "lifted_at"};

/* sluice_store_kv_foreach callback: append the shown part of an entry,
 * with its stage, to the array `user`. */
static int collect_entry(const char *key, const json_t *value, void *user)
{
    json_t *entry = json_object();
    (void)key;
    if (!entry)
        return -1;
    for (size_t i = 0; i < sizeof(SHOWN) / sizeof(SHOWN[0]); i++) {
        json_t *member = json_object_get(value, SHOWN[i]);
        if (json_is_string(member))
            json_object_set(entry, SHOWN[i], member);
    }
    return json_array_append_new(user, entry) == 0 ? 0 : -1;
}

/* The text member `name` of entry, or "-". */
static const char *shown(const json_t *entry, const char *name)
{
    const char *text = json_string_value(json_object_get(entry, name));
    return text && *text ? text : "-";
}

/* `erase --status FILE [--json]`. Returns an exit status. */
static int cmd_status(sluice_store *store, const sluice_pipeline_def *def, int as_json)
{
    json_t *entries = json_array();
    size_t i;
    json_t *entry;
    int result = EXIT_IO;

    if (!entries)
        goto out;
    for (size_t s = 0; s < def->stage_count; s++) {
        json_t *stage_entries = json_array();
        size_t j;
        json_t *one;
        if (!stage_entries ||
            sluice_store_kv_foreach(store, def->stages[s].name, ERASE_PREFIX, collect_entry,
                                    stage_entries) != 0) {
            json_decref(stage_entries);
            fprintf(stderr, "sluice erase: cannot read the erasures of stage '%s'\n",
                    def->stages[s].name);
            goto out;
        }
        json_array_foreach(stage_entries, j, one) {
            json_object_set_new(one, "stage", json_string(def->stages[s].name));
            json_array_append(entries, one);
        }
        json_decref(stage_entries);
    }
    if (as_json) {
        if (json_dumpf(entries, stdout, JSON_INDENT(2)) != 0)
            goto out;
        putchar('\n');
    } else {
        printf("%-20s %-12s %-10s %-21s %-21s %-8s %s\n", "LOYALTY_ID", "DESTINATION", "STATE",
               "REQUESTED_AT", "UPDATED_AT", "VIA", "REASON");
        json_array_foreach(entries, i, entry) {
            printf("%-20s %-12s %-10s %-21s %-21s %-8s %s%s%s\n", shown(entry, "loyalty_id"),
                   shown(entry, "destination"), shown(entry, "state"),
                   shown(entry, "requested_at"), shown(entry, "updated_at"), shown(entry, "via"),
                   shown(entry, "reason"), json_object_get(entry, "lifted_at") ? "; enrolled "
                   "again, suppression lifted at " : "",
                   json_object_get(entry, "lifted_at") ? shown(entry, "lifted_at") : "");
        }
        printf("(%zu erasure(s))\n", json_array_size(entries));
    }
    result = 0;
out:
    json_decref(entries);
    return result;
}

int sluice_cmd_erase(int argc, char **argv)
{
    int status = EXIT_USAGE, as_json = 0, want_status = 0;
    const char *file = NULL;
    sluice_store *store = NULL;
    sluice_pipeline_def *def = NULL;
    sluice_registry *reg = NULL;
    json_t *ids = json_array();

    if (!ids)
        return EXIT_IO;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        } else if (strcmp(arg, "--status") == 0) {
            want_status = 1;
        } else if (strcmp(arg, "--json") == 0) {
            as_json = 1;
        } else if ((strcmp(arg, "--id") == 0 || strcmp(arg, "--file") == 0) && i + 1 < argc) {
            status = arg[2] == 'i' ? add_id(ids, argv[++i], "--id") : read_ids(argv[++i], ids);
            if (status != 0)
                goto out;
            status = EXIT_USAGE;
        } else if (arg[0] != '-' && !file) {
            file = arg;
        } else {
            fprintf(stderr, "sluice erase: unexpected argument '%s'\n", arg);
            usage(stderr);
            goto out;
        }
    }
    if (!file || (want_status && json_array_size(ids) > 0) ||
        (!want_status && (as_json || json_array_size(ids) == 0))) {
        fprintf(stderr, "sluice erase: expected PIPELINE_FILE with --id/--file, or --status "
                "PIPELINE_FILE [--json]\n");
        usage(stderr);
        goto out;
    }
    status = open_pipeline_store(file, &reg, &def, &store);
    if (status != 0)
        goto out;
    status = want_status ? cmd_status(store, def, as_json) : queue_erasures(store, def, ids);
out:
    json_decref(ids);
    sluice_store_close(&store);
    sluice_pipeline_free(&def);
    sluice_registry_destroy(&reg);
    return status;
}
