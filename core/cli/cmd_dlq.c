/* cmd_dlq.c: `sluice dlq`: list, show, replay or purge the records a
 * pipeline parked in its dead-letter queue (state store, store_dlq.c), and
 * list the members a sink delivered only in part (`conflicts`: the
 * "conflict/" entries infobip-sink keeps in its stage state).
 * The pipeline file is read for its state_dir and stage names only, so no
 * secret need be set (SLUICE_LOAD_NO_SECRETS). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "commands_state.h"
#include "log.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"

#define EXIT_USAGE 64   /* EX_USAGE */
#define EXIT_DATA 65    /* EX_DATAERR */
#define EXIT_NO_ENTRY 66 /* EX_NOINPUT */
#define EXIT_IO 74      /* EX_IOERR */
#define PREVIEW_CHARS 60

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluice dlq list PIPELINE_FILE [--stage NAME]\n"
            "       sluice dlq show PIPELINE_FILE ID\n"
            "       sluice dlq replay PIPELINE_FILE ID|--all\n"
            "       sluice dlq purge PIPELINE_FILE ID|--all\n"
            "       sluice dlq conflicts PIPELINE_FILE\n"
            "\n"
            "list    one line per parked record: id, stage, parked_at, reason, record preview;\n"
            "        a replayed record parked again has a line per earlier parking\n"
            "show    the full entry as JSON, with its history of earlier parkings\n"
            "replay  queue the record(s) to go back into the stage that parked them (stages\n"
            "        before it pass them on untouched); a running pipeline takes them at\n"
            "        once, a stopped one on its next run. They leave the DLQ; a record\n"
            "        rejected again is parked again with its history; each one's fate is\n"
            "        logged. Lines the source itself rejected are raw input, not records,\n"
            "        and records of a stage the pipeline no longer has cannot go back:\n"
            "        neither is replayed\n"
            "purge   delete the record(s) for good\n"
            "conflicts  members delivered without a contact identifier the destination\n"
            "        holds for another person (a shared phone or e-mail): stage, loyalty\n"
            "        id, identifier types left out, when; no phone or e-mail is kept\n"
            "\n"
            "The pipeline file is read for its state_dir and stages: secrets (and\n"
            "variables of plugin options) need not be set.\n"
            "\n"
            "exit status: 0 ok, 64 usage, 65 entry cannot be replayed, 66 no such entry,\n"
            "74 state store error, 78 pipeline configuration error\n");
}

/* Parse a DLQ id (decimal > 0). Returns 0 or -1. */
static int parse_id(const char *text, int64_t *id)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value <= 0)
        return -1;
    *id = (int64_t)value;
    return 0;
}

/* Print the earlier parkings of an entry (its history, oldest first), one
 * indented line each, under its list line. */
static void print_history(const json_t *entry)
{
    size_t i;
    const json_t *parking;
    json_array_foreach(json_object_get(entry, "history"), i, parking) {
        const char *at = json_string_value(json_object_get(parking, "parked_at"));
        const char *stage = json_string_value(json_object_get(parking, "stage"));
        const char *reason = json_string_value(json_object_get(parking, "reason"));
        printf("%-6s earlier: %s%s%s: %s\n", "", stage ? stage : "?", at ? " at " : "",
               at ? at : "", reason ? reason : "?");
    }
}

/* Print one entry as a list line (sluice_dlq_fn), and its history. */
static int print_line(const json_t *entry, void *user)
{
    char preview[PREVIEW_CHARS + 4];
    char *record = json_dumps(json_object_get(entry, "record"), JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = record ? strlen(record) : 0;
    if (len > PREVIEW_CHARS) {
        size_t cut = PREVIEW_CHARS;
        while (cut > 0 && ((unsigned char)record[cut] & 0xC0) == 0x80)
            cut--; /* do not split a UTF-8 character */
        memcpy(preview, record, cut);
        memcpy(preview + cut, "...", 4);
    } else {
        memcpy(preview, record ? record : "", len + 1);
    }
    printf("%-6lld %-20s %-24s %-40s %s\n",
           (long long)json_integer_value(json_object_get(entry, "id")),
           json_string_value(json_object_get(entry, "stage")),
           json_string_value(json_object_get(entry, "parked_at")),
           json_string_value(json_object_get(entry, "reason")), preview);
    print_history(entry);
    free(record);
    (*(long *)user)++;
    return 0;
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
        fprintf(stderr, "sluice dlq: out of memory\n");
        return EXIT_IO;
    }
    if (sluice_pipeline_load_flags(path, *reg, SLUICE_LOAD_NO_SECRETS, def, &err) != 0) {
        sluice_error_print(&err, stderr, "sluice dlq: ");
        return SLUICE_EXIT_CONFIG;
    }
    sluice_log_set_origin((*def)->name, NULL); /* for the store's error lines */
    *store = sluice_store_open((*def)->state_dir, errbuf, sizeof(errbuf));
    if (!*store) {
        fprintf(stderr, "sluice dlq: %s\n", errbuf);
        return EXIT_IO;
    }
    return 0;
}

/* Name of the pipeline's source stage (borrowed), or NULL. */
static const char *source_stage_name(const sluice_pipeline_def *def)
{
    if (def->stage_count == 0 || !def->stages[0].plugin ||
        def->stages[0].plugin->role != SLUICE_ROLE_SOURCE)
        return NULL;
    return def->stages[0].name;
}

/* `dlq list FILE [--stage NAME]`. */
static int cmd_list(sluice_store *store, const sluice_pipeline_def *def, const char *stage)
{
    long shown = 0;
    if (stage && !sluice_pipeline_stage(def, stage)) {
        fprintf(stderr, "sluice dlq list: pipeline '%s' has no stage '%s'\n", def->name, stage);
        return EXIT_USAGE;
    }
    printf("%-6s %-20s %-24s %-40s %s\n", "ID", "STAGE", "PARKED_AT", "REASON", "RECORD");
    if (sluice_store_dlq_foreach(store, stage, print_line, &shown) < 0) {
        fprintf(stderr, "sluice dlq: cannot read the dead-letter queue\n");
        return EXIT_IO;
    }
    printf("%ld record(s)\n", shown);
    return 0;
}

/* Prefix of the state keys of partly delivered members (infobip_conflicts.c). */
#define CONFLICT_PREFIX "conflict/"

/* The stage being listed and the entries printed so far. */
typedef struct conflict_listing {
    const char *stage;
    long count;
} conflict_listing;

/* sluice_store_kv_foreach callback: print one conflict entry of the stage
 * `user` (a conflict_listing) names, and count it. Returns 0. */
static int print_conflict(const char *key, const json_t *value, void *user)
{
    conflict_listing *seen = user;
    const char *loyalty_id = json_string_value(json_object_get(value, "loyalty_id"));
    const char *at = json_string_value(json_object_get(value, "at"));
    char types[64] = "";
    size_t i;
    json_t *type;

    json_array_foreach(json_object_get(value, "dropped"), i, type) {
        size_t used = strlen(types);
        if (json_is_string(type))
            snprintf(types + used, sizeof(types) - used, "%s%s", used ? "," : "",
                     json_string_value(type));
    }
    printf("%-20s %-20s %-14s %s\n", seen->stage,
           loyalty_id ? loyalty_id : key + strlen(CONFLICT_PREFIX), types[0] ? types : "-",
           at ? at : "-");
    seen->count++;
    return 0;
}

/* `dlq conflicts FILE`: the conflict entries of every stage. */
static int cmd_conflicts(sluice_store *store, const sluice_pipeline_def *def)
{
    conflict_listing seen = {NULL, 0};

    printf("%-20s %-20s %-14s %s\n", "STAGE", "LOYALTY_ID", "LEFT_OUT", "AT");
    for (size_t s = 0; s < def->stage_count; s++) {
        seen.stage = def->stages[s].name;
        if (sluice_store_kv_foreach(store, seen.stage, CONFLICT_PREFIX, print_conflict, &seen) != 0) {
            fprintf(stderr, "sluice dlq: cannot read the conflicts of stage '%s'\n", seen.stage);
            return EXIT_IO;
        }
    }
    printf("%ld member(s) delivered without a shared identifier\n", seen.count);
    return 0;
}

/* `dlq show FILE ID`. */
static int cmd_show(sluice_store *store, int64_t id)
{
    json_t *entry = NULL;
    if (sluice_store_dlq_get(store, id, &entry) != 0) {
        fprintf(stderr, "sluice dlq: cannot read the dead-letter queue\n");
        return EXIT_IO;
    }
    if (!entry) {
        fprintf(stderr, "sluice dlq: no entry %lld\n", (long long)id);
        return EXIT_NO_ENTRY;
    }
    json_dumpf(entry, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(entry);
    return 0;
}

/* `dlq purge FILE ID|--all`; id 0 means all. */
static int cmd_purge(sluice_store *store, int64_t id)
{
    int64_t deleted = sluice_store_dlq_delete(store, id);
    if (deleted < 0) {
        fprintf(stderr, "sluice dlq: cannot update the dead-letter queue\n");
        return EXIT_IO;
    }
    if (deleted == 0 && id > 0) {
        fprintf(stderr, "sluice dlq: no entry %lld\n", (long long)id);
        return EXIT_NO_ENTRY;
    }
    printf("%lld record(s) purged\n", (long long)deleted);
    return 0;
}

/* What a replay collects (sluice_dlq_fn user data). */
typedef struct replay_scan {
    const sluice_pipeline_def *def;
    const char *source; /* the source stage, whose rejections are not records */
    json_t *ids;        /* entries to replay */
    json_t *per_stage;  /* stage -> number of entries going back into it */
    long raw_skipped;   /* entries of the source: raw input */
    json_t *gone;       /* stage no longer in the pipeline -> entries left */
} replay_scan;

/* Add 1 to the count of `key` in `counts`. 0 or -1 (ENOMEM). */
static int count_up(json_t *counts, const char *key)
{
    json_int_t n = json_integer_value(json_object_get(counts, key));
    return json_object_set_new(counts, key, json_integer(n + 1));
}

/* Collect the ids of entries a replay can send back into the stage that
 * parked them (sluice_dlq_fn); count the others. */
static int collect_replayable(const json_t *entry, void *user)
{
    replay_scan *scan = user;
    const char *stage = json_string_value(json_object_get(entry, "stage"));
    if (!stage)
        stage = "";
    if (scan->source && strcmp(stage, scan->source) == 0) {
        scan->raw_skipped++;
        return 0;
    }
    if (!sluice_pipeline_stage(scan->def, stage))
        return count_up(scan->gone, stage) == 0 ? 0 : -1;
    if (count_up(scan->per_stage, stage) != 0)
        return -1;
    return json_array_append(scan->ids, json_object_get(entry, "id")) == 0 ? 0 : -1;
}

/* Refuse to replay entry `id` alone when the scan skipped it (exit 65,
 * the reason on stderr). Returns 0 when it can be replayed, else 65. */
static int refuse_single(const replay_scan *scan, int64_t id, const json_t *entry)
{
    const char *stage = json_string_value(json_object_get(entry, "stage"));
    if (scan->raw_skipped) {
        fprintf(stderr, "sluice dlq: entry %lld was rejected by the source stage '%s': "
                        "it is raw input, not a record; fix the input and purge it\n",
                (long long)id, scan->source);
        return EXIT_DATA;
    }
    if (json_object_size(scan->gone)) {
        fprintf(stderr, "sluice dlq: entry %lld was parked by stage '%s', which pipeline '%s' "
                        "no longer has: it cannot go back into it; restore the stage to replay "
                        "it, or purge it\n", (long long)id, stage ? stage : "?",
                scan->def->name);
        return EXIT_DATA;
    }
    return 0;
}

/* Print what a replay queued and what it left in the DLQ. */
static void print_replay_summary(sluice_store *store, const replay_scan *scan, int64_t queued)
{
    const char *stage;
    const json_t *count;
    const char *sep = "";
    printf("%lld record(s) queued for replay into the stage that parked each (",
           (long long)queued);
    json_object_foreach((json_t *)scan->per_stage, stage, count) {
        printf("%s%s: %lld", sep, stage, (long long)json_integer_value(count));
        sep = ", ";
    }
    printf("); a running pipeline takes them at once, a stopped one on its next run "
           "(%lld waiting)\n", (long long)sluice_store_replay_count(store));
    if (scan->raw_skipped)
        printf("%ld record(s) rejected by the source stage '%s' left in the DLQ (raw input: "
               "fix the input, then purge them)\n", scan->raw_skipped, scan->source);
    json_object_foreach((json_t *)scan->gone, stage, count) {
        printf("%lld record(s) parked by stage '%s', which pipeline '%s' no longer has, left "
               "in the DLQ (restore the stage to replay them, or purge them)\n",
               (long long)json_integer_value(count), stage, scan->def->name);
    }
}

/* `dlq replay FILE ID|--all`; id 0 means all. Each entry goes back into
 * the stage that parked it. Entries rejected by the source itself hold
 * raw input (e.g. {"raw": "not json"}), not records, and entries of a
 * stage the pipeline no longer has have nowhere to go: they are refused
 * (exit 65) or, with --all, left in the DLQ and counted. */
static int cmd_replay(sluice_store *store, const sluice_pipeline_def *def, int64_t id)
{
    int status = EXIT_IO;
    int in_transaction = 0;
    json_t *entry = NULL;
    replay_scan scan = { def, source_stage_name(def), json_array(), json_object(), 0,
                         json_object() };
    if (!scan.ids || !scan.per_stage || !scan.gone)
        goto out;
    if (id > 0) {
        if (sluice_store_dlq_get(store, id, &entry) != 0)
            goto out;
        if (!entry) {
            fprintf(stderr, "sluice dlq: no entry %lld\n", (long long)id);
            status = EXIT_NO_ENTRY;
            goto out;
        }
        if (collect_replayable(entry, &scan) != 0)
            goto out;
        if ((status = refuse_single(&scan, id, entry)) != 0)
            goto out;
        status = EXIT_IO;
    } else if (sluice_store_dlq_foreach(store, NULL, collect_replayable, &scan) != 0) {
        goto out;
    }
    if (sluice_store_begin(store) != 0)
        goto out;
    in_transaction = 1;
    size_t i;
    json_t *entry_id;
    int64_t queued = 0;
    json_array_foreach(scan.ids, i, entry_id) {
        int64_t moved = sluice_store_replay_add(store, json_integer_value(entry_id));
        if (moved < 0)
            goto out;
        queued += moved;
    }
    in_transaction = 0;
    if (sluice_store_end(store, 1) != 0)
        goto out;
    print_replay_summary(store, &scan, queued);
    status = 0;
out:
    if (in_transaction)
        sluice_store_end(store, 0);
    if (status == EXIT_IO)
        fprintf(stderr, "sluice dlq: cannot update the dead-letter queue\n");
    json_decref(entry);
    json_decref(scan.ids);
    json_decref(scan.per_stage);
    json_decref(scan.gone);
    return status;
}

int sluice_cmd_dlq(int argc, char **argv)
{
    int status = EXIT_USAGE;
    sluice_store *store = NULL;
    sluice_pipeline_def *def = NULL;
    sluice_registry *reg = NULL;
    const char *stage = NULL;
    int64_t id = 0;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 3) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *action = argv[1];
    const char *file = argv[2];
    int is_list = strcmp(action, "list") == 0;
    int is_show = strcmp(action, "show") == 0;
    int is_replay = strcmp(action, "replay") == 0;
    int is_purge = strcmp(action, "purge") == 0;
    int is_conflicts = strcmp(action, "conflicts") == 0;
    if (!is_list && !is_show && !is_replay && !is_purge && !is_conflicts) {
        fprintf(stderr, "sluice dlq: unknown action '%s' (list, show, replay, purge, conflicts)\n",
                action);
        usage(stderr);
        goto out;
    }
    /* Check the arguments before touching anything. */
    if (is_conflicts) {
        if (argc != 3) {
            fprintf(stderr, "sluice dlq conflicts: expected PIPELINE_FILE\n");
            goto out;
        }
    } else if (is_list) {
        if (argc == 5 && strcmp(argv[3], "--stage") == 0) {
            stage = argv[4];
        } else if (argc != 3) {
            fprintf(stderr, "sluice dlq list: expected PIPELINE_FILE [--stage NAME]\n");
            goto out;
        }
    } else {
        if (argc != 4) {
            fprintf(stderr, "sluice dlq %s: expected PIPELINE_FILE and %s\n", action,
                    is_show ? "ID" : "ID or --all");
            goto out;
        }
        if (!is_show && strcmp(argv[3], "--all") == 0) {
            id = 0;
        } else if (parse_id(argv[3], &id) != 0) {
            fprintf(stderr, "sluice dlq %s: '%s' is not an entry id (a number > 0)\n", action,
                    argv[3]);
            goto out;
        }
    }
    status = open_pipeline_store(file, &reg, &def, &store);
    if (status != 0)
        goto out;
    if (is_conflicts)
        status = cmd_conflicts(store, def);
    else if (is_list)
        status = cmd_list(store, def, stage);
    else if (is_show)
        status = cmd_show(store, id);
    else if (is_replay)
        status = cmd_replay(store, def, id);
    else
        status = cmd_purge(store, id);
out:
    sluice_store_close(&store);
    sluice_pipeline_free(&def);
    sluice_registry_destroy(&reg);
    return status;
}
