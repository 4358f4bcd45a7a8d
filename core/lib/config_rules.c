/* config_rules.c: rules across the stages of a pipeline that `sluice run`
 * would otherwise find out the hard way: two processes binding the same
 * address (a crash loop on "Address already in use"), an ipc:// path
 * longer than the OS allows, and how long an HTTP stage may stay silent
 * (what ack_timeout_ms must exceed). Used by config.c, so `sluice check`
 * refuses what `sluice run` would refuse (docs/configuration.md). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "config_check.h"
#include "registry.h"
#include "stage.h"

/* One address a stage process binds. */
typedef struct bind_entry {
    int tcp;                          /* 1 tcp://HOST:PORT, 0 ipc://PATH */
    long port;                        /* tcp only */
    char host[SLUICE_ENDPOINT_MAX];   /* tcp: host, lower case; ipc: the path */
    char endpoint[SLUICE_ENDPOINT_MAX];
    size_t stage;
    int is_ack;                       /* the stage's ack endpoint, else data */
} bind_entry;

/* 1 if a tcp host binds every interface. */
static int wildcard_host(const char *host)
{
    return strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
           strcmp(host, "[::]") == 0;
}

/* Fill `e` from `endpoint` (as sluice_stage_endpoints wrote it: ipc://,
 * tcp:// with a valid port, or inproc:// which binds no address).
 * Returns 1 if it binds an address, else 0. */
static int parse_bind(const char *endpoint, bind_entry *e)
{
    const char *colon;

    snprintf(e->endpoint, sizeof(e->endpoint), "%s", endpoint);
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        e->tcp = 0;
        snprintf(e->host, sizeof(e->host), "%s", endpoint + 6);
        return 1;
    }
    if (strncmp(endpoint, "tcp://", 6) != 0 || !(colon = strrchr(endpoint + 6, ':')))
        return 0;
    e->tcp = 1;
    e->port = strtol(colon + 1, NULL, 10);
    snprintf(e->host, sizeof(e->host), "%.*s", (int)(colon - endpoint - 6), endpoint + 6);
    for (char *p = e->host; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (strcmp(e->host, "localhost") == 0)
        snprintf(e->host, sizeof(e->host), "127.0.0.1");
    return 1;
}

/* qsort order: ipc before tcp, then by port, then by host/path. */
static int bind_order(const void *a, const void *b)
{
    const bind_entry *x = a;
    const bind_entry *y = b;

    if (x->tcp != y->tcp)
        return x->tcp - y->tcp;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return strcmp(x->host, y->host);
}

/* Describe the clash of `a` and `b` into why; *stage gets the stage the
 * error points at: the one whose `endpoint` setting made the clash when
 * only one of them has it, else the later one. */
static void describe_clash(const sluice_pipeline_def *def, const bind_entry *a,
                           const bind_entry *b, size_t *stage, char *why, size_t len)
{
    int a_set = def->stages[a->stage].common.endpoint != NULL;
    int b_set = def->stages[b->stage].common.endpoint != NULL;
    const bind_entry *later = a_set != b_set ? (a_set ? a : b) : a->stage >= b->stage ? a : b;
    const bind_entry *earlier = later == a ? b : a;

    *stage = later->stage;
    snprintf(why, len, "its %s endpoint %s clashes with the %s endpoint %s of stage '%s' "
             "(a stage binds its endpoint for data and, for acks, PORT+1 of a tcp:// one or "
             "PATH.ack of an ipc:// one; pick endpoints that stay apart)",
             later->is_ack ? "ack" : "data", later->endpoint, earlier->is_ack ? "ack" : "data",
             earlier->endpoint, def->stages[earlier->stage].name);
}

/* Collect what stage `index` binds (data and ack of each process) into
 * entries[*count...]; checks ipc:// path lengths. Returns 0, or -1 with
 * why set. */
static int collect_binds(const sluice_pipeline_def *def, size_t index, bind_entry *entries,
                         size_t *count, char *why, size_t len)
{
    const sluice_stage_def *stage = &def->stages[index];
    struct sockaddr_un addr;

    for (unsigned k = sluice_stage_first_instance(stage); k <= sluice_stage_last_instance(stage);
         k++) {
        char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX];
        const char *both[2] = {data, ack};

        if (sluice_stage_endpoints(def, index, k, 0, data, sizeof(data), ack, sizeof(ack), why,
                                   len) != 0)
            return -1;
        for (int j = 0; j < 2; j++) {
            bind_entry *e = &entries[*count];
            if (strncmp(both[j], "ipc://", 6) == 0 &&
                strlen(both[j]) - 6 >= sizeof(addr.sun_path)) {
                snprintf(why, len, "ipc socket path %s is longer than the %zu bytes the OS "
                         "allows; set a shorter runtime_dir or endpoint", both[j] + 6,
                         sizeof(addr.sun_path) - 1);
                return -1;
            }
            if (!parse_bind(both[j], e))
                continue;
            e->stage = index;
            e->is_ack = j == 1;
            (*count)++;
        }
    }
    return 0;
}

int sluice_pipeline_check_binds(const sluice_pipeline_def *def, size_t *stage, char *why,
                                size_t len)
{
    size_t most = 0, count = 0;
    bind_entry *entries;
    int result = -1;

    *stage = 0;
    for (size_t i = 1; i < def->stage_count; i++)
        most += 2 * (sluice_stage_last_instance(&def->stages[i]) -
                     sluice_stage_first_instance(&def->stages[i]) + 1);
    entries = calloc(most ? most : 1, sizeof(*entries));
    if (!entries) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    /* The source binds nothing: every other stage binds its input. */
    for (size_t i = 1; i < def->stage_count; i++) {
        if (collect_binds(def, i, entries, &count, why, len) != 0) {
            *stage = i;
            goto out;
        }
    }
    qsort(entries, count, sizeof(*entries), bind_order);
    for (size_t i = 0; i < count; i++) {
        size_t end = i + 1;
        const bind_entry *wild = NULL;

        if (!entries[i].tcp) {
            if (i + 1 < count && !entries[i + 1].tcp &&
                strcmp(entries[i].host, entries[i + 1].host) == 0) {
                describe_clash(def, &entries[i], &entries[i + 1], stage, why, len);
                goto out;
            }
            continue;
        }
        /* tcp: the run of entries on one port clashes on an equal host, or
         * anywhere when one of them binds every interface */
        while (end < count && entries[end].port == entries[i].port)
            end++;
        for (size_t j = i; j < end; j++) {
            if (wildcard_host(entries[j].host))
                wild = &entries[j];
            if (j + 1 < end && strcmp(entries[j].host, entries[j + 1].host) == 0) {
                describe_clash(def, &entries[j], &entries[j + 1], stage, why, len);
                goto out;
            }
        }
        if (wild && end - i > 1) {
            describe_clash(def, wild, wild == &entries[i] ? &entries[i + 1] : &entries[i], stage,
                           why, len);
            goto out;
        }
        i = end - 1;
    }
    result = 0;
out:
    free(entries);
    return result;
}

long sluice_stage_silence_ms(const sluice_stage_def *stage, size_t index)
{
    /* A sink's HTTP client and backoffs call its progress hook, which sends
     * heartbeats upstream (link_sink_heartbeat) during a hung request too;
     * a transform has no such hook. */
    if (index == 0 || !stage->plugin || stage->plugin->role != SLUICE_ROLE_TRANSFORM ||
        !(sluice_plugin_flags(stage->plugin) & SLUICE_PLUGIN_HTTP))
        return 0;
    return stage->common.http_timeout_ms + stage->common.retry_max_backoff_ms;
}
