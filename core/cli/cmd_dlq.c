/* cmd_dlq.c: `sluice dlq`: list, show, replay or purge the records a
 * pipeline parked in its dead-letter queue (state store, store.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "commands_state.h"
#include "pipeline.h"
#include "registry.h"
#include "store.h"

#define EXIT_USAGE 64   /* EX_USAGE */
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
            "\n"
            "list    one line per parked record: id, stage, parked_at, reason, record preview\n"
            "show    the full entry as JSON\n"
            "replay  queue the record(s) to travel the whole pipeline again: the source\n"
            "        stage emits them first on its next poll (they leave the DLQ; a record\n"
            "        rejected again is parked again)\n"
            "purge   delete the record(s) for good\n"
            "\n"
            "exit status: 0 ok, 64 usage, 66 no such entry, 74 state store error,\n"
            "78 pipeline configuration error\n");
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

/* Print one entry as a list line (sluice_dlq_fn). */
static int print_line(const json_t *entry, void *user)
{
    char preview[PREVIEW_CHARS + 4];
    char *record = json_dumps(json_object_get(entry, "record"), JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = record ? strlen(record) : 0;
    if (len > PREVIEW_CHARS) {
        memcpy(preview, record, PREVIEW_CHARS);
        memcpy(preview + PREVIEW_CHARS, "...", 4);
    } else {
        memcpy(preview, record ? record : "", len + 1);
    }
    printf("%-6lld %-20s %-24s %-40s %s\n",
           (long long)json_integer_value(json_object_get(entry, "id")),
           json_string_value(json_object_get(entry, "stage")),
           json_string_value(json_object_get(entry, "parked_at")),
           json_string_value(json_object_get(entry, "reason")), preview);
    free(record);
    (*(long *)user)++;
    return 0;
}

/* Open the state store of the pipeline at path. Returns an exit status
 * (0 with *store set). */
static int open_pipeline_store(const char *path, sluice_store **store)
{
    int status = SLUICE_EXIT_CONFIG;
    sluice_registry *reg = sluice_registry_new();
    sluice_pipeline_def *def = NULL;
    sluice_error err;
    char errbuf[1024];
    if (!reg) {
        fprintf(stderr, "sluice dlq: out of memory\n");
        status = EXIT_IO;
        goto out;
    }
    if (sluice_pipeline_load(path, reg, &def, &err) != 0) {
        fprintf(stderr, "sluice dlq: %s\n", err.text);
        goto out;
    }
    *store = sluice_store_open(def->state_dir, errbuf, sizeof(errbuf));
    if (!*store) {
        fprintf(stderr, "sluice dlq: %s\n", errbuf);
        status = EXIT_IO;
        goto out;
    }
    status = 0;
out:
    sluice_pipeline_free(&def);
    sluice_registry_destroy(&reg);
    return status;
}

/* `dlq list FILE [--stage NAME]`. */
static int cmd_list(sluice_store *store, int argc, char **argv)
{
    const char *stage = NULL;
    long shown = 0;
    if (argc == 2 && strcmp(argv[0], "--stage") == 0) {
        stage = argv[1];
    } else if (argc != 0) {
        usage(stderr);
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

/* `dlq replay|purge FILE ID|--all`; id 0 means all. */
static int cmd_move_or_delete(sluice_store *store, int replay, int64_t id)
{
    int64_t changed = replay ? sluice_store_replay_add(store, id)
                             : sluice_store_dlq_delete(store, id);
    if (changed < 0) {
        fprintf(stderr, "sluice dlq: cannot update the dead-letter queue\n");
        return EXIT_IO;
    }
    if (changed == 0 && id > 0) {
        fprintf(stderr, "sluice dlq: no entry %lld\n", (long long)id);
        return EXIT_NO_ENTRY;
    }
    if (replay)
        printf("%lld record(s) queued for replay; the source emits them on the pipeline's "
               "next run (%lld waiting)\n",
               (long long)changed, (long long)sluice_store_replay_count(store));
    else
        printf("%lld record(s) purged\n", (long long)changed);
    return 0;
}

int sluice_cmd_dlq(int argc, char **argv)
{
    int status = EXIT_USAGE;
    sluice_store *store = NULL;
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
    if (!is_list && !is_show && !is_replay && !is_purge) {
        fprintf(stderr, "sluice dlq: unknown action '%s' (list, show, replay, purge)\n", action);
        usage(stderr);
        goto out;
    }
    /* Check the arguments before touching anything. */
    if (!is_list) {
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
    status = open_pipeline_store(file, &store);
    if (status != 0)
        goto out;
    if (is_list)
        status = cmd_list(store, argc - 3, argv + 3);
    else if (is_show)
        status = cmd_show(store, id);
    else
        status = cmd_move_or_delete(store, is_replay, id);
out:
    sluice_store_close(&store);
    return status;
}
