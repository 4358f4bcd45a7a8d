/* truth.c: the ground-truth oracle CLI: canonical observation sequence(s) + program.json -> expected destination state. */
#include "truthlib.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: truth --program PROGRAM.json --out DIR [--collection NAME] [--close-threshold N|N%] INPUT.jsonl...\n"
          "  Reads canonical member/event records (docs/loyalty-schema.md) from each INPUT in order and writes\n"
          "  DIR/events.jsonl, DIR/ometria.json, DIR/infobip.json and DIR/dlq.jsonl.\n",
          f);
}

/* Parses "--close-threshold" values "100" or "10%". Returns false on garbage. */
static bool parse_threshold(const char *s, truth_opts_t *o)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return false;
    if (*end == '%' && end[1] == 0) {
        o->close_percent = true;
    } else if (*end != 0) {
        return false;
    }
    o->close_threshold = v;
    return true;
}

/* Feeds every line of path into t. Returns 0, or -1 after printing file:line: reason. */
static int feed_file(truth_t *t, const char *path)
{
    int rc = -1;
    char *line = NULL, msg[512];
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "truth: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        lineno++;
        if (n == 1 && line[0] == '\n')
            continue;
        json_t *rec = json_loadb(line, (size_t)n, 0, &err);
        if (!rec) {
            fprintf(stderr, "truth: %s:%ld: invalid JSON: %s\n", path, lineno, err.text);
            goto out;
        }
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        if (kind && strcmp(kind, "event") == 0) {
            truth_feed_event(t, rec); /* takes the reference */
            continue;
        }
        if (kind && strcmp(kind, "member") != 0) {
            fprintf(stderr, "truth: %s:%ld: unknown kind \"%s\"\n", path, lineno, kind);
            json_decref(rec);
            goto out;
        }
        canon_t r;
        if (canon_from_json(&r, rec, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "truth: %s:%ld: %s\n", path, lineno, msg);
            json_decref(rec);
            goto out;
        }
        json_decref(rec);
        truth_feed_member(t, &r);
    }
    rc = 0;
out:
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    const char *program_path = NULL, *out = NULL;
    truth_opts_t opts = {.collection = "annex_loyalty", .close_threshold = 100};
    program_t prog;
    char msg[1024];
    int i, rc = 1;
    truth_t *t = NULL;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "truth: %s needs a value\n", a);
            return 64;
        }
        if (strcmp(a, "--program") == 0)
            program_path = argv[++i];
        else if (strcmp(a, "--out") == 0)
            out = argv[++i];
        else if (strcmp(a, "--collection") == 0)
            opts.collection = argv[++i];
        else if (strcmp(a, "--close-threshold") == 0) {
            if (!parse_threshold(argv[++i], &opts)) {
                fprintf(stderr, "truth: --close-threshold: \"%s\" is not N or N%%\n", argv[i]);
                return 64;
            }
        } else {
            fprintf(stderr, "truth: unknown option %s\n", a);
            usage(stderr);
            return 64;
        }
    }
    if (!program_path || !out || i >= argc) {
        usage(stderr);
        return 64;
    }
    if (program_load(&prog, program_path, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "truth: %s\n", msg);
        goto done;
    }
    t = truth_create(out, &prog, &opts, msg, sizeof(msg));
    if (!t) {
        fprintf(stderr, "truth: %s\n", msg);
        goto done;
    }
    for (; i < argc; i++)
        if (feed_file(t, argv[i]) != 0)
            goto done;
    if (truth_finish(t, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "truth: %s\n", msg);
        goto done;
    }
    rc = 0;
done:
    truth_destroy(&t);
    tl_arena_free();
    return rc;
}
