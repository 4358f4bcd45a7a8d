/* runner_replay.c: what the stage runners do with a replay batch, the
 * records `sluice dlq replay` sends back into the stage that parked them
 * (docs/state-store.md, "sluice dlq"): stages before that one pass the
 * batch on untouched; from that one on it is handled like any batch, and
 * every replayed record's fate is logged with the reason it was parked
 * for: parked again, dropped by a transform, or delivered by the sink. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "runner.h"

int runner_passes_replay(const runner *r, const sluice_batch *batch)
{
    const sluice_stage_def *entry;

    if (!batch->enter_at)
        return 0;
    /* an unknown stage (this process runs another version of the file)
     * is no reason to pass records on unprocessed: handle them */
    entry = sluice_pipeline_stage(r->pipeline, batch->enter_at);
    return entry && (size_t)(entry - r->pipeline->stages) > r->index;
}

/* The string member `key` of obj, or `fallback` when absent. Borrowed. */
static const char *member_text(const json_t *obj, const char *key, const char *fallback)
{
    const char *text = json_string_value(json_object_get(obj, key));
    return text ? text : fallback;
}

/* Append to buf (len bytes, `used` taken) one parking of a history:
 * "WHAT by 'S' at T: REASON". Returns the new count of bytes used. */
static size_t describe_parking(char *buf, size_t len, size_t used, const char *what,
                               const json_t *parking)
{
    const char *at = member_text(parking, "parked_at", NULL);
    int n;

    if (used >= len)
        return used;
    n = snprintf(buf + used, len - used, "%s by '%s'%s%s: %s", what,
                 member_text(parking, "stage", "?"), at ? " at " : "", at ? at : "",
                 member_text(parking, "reason", "?"));
    return n < 0 ? used : used + (size_t)n;
}

/* Write into buf how a replayed record was parked before, from its
 * history (oldest first): the newest parking (the one the replay was to
 * fix), then the first one when there were more ("parked by 'S' at T:
 * REASON; first parked by 'S' at T: REASON"). Returns buf. */
static const char *describe_history(const json_t *history, char *buf, size_t len)
{
    size_t count = json_array_size(history);
    size_t used;

    buf[0] = '\0';
    if (count == 0) {
        snprintf(buf, len, "no earlier parking recorded");
        return buf;
    }
    used = describe_parking(buf, len, 0, "parked", json_array_get(history, count - 1));
    if (count > 1)
        describe_parking(buf, len, used, "; first parked", json_array_get(history, 0));
    return buf;
}

void runner_log_reparked(runner *r, const sluice_batch_slot *slot, const char *by,
                         const char *reason, int64_t dlq_id)
{
    char before[1536];

    RLOG(r, SLUICE_LOG_WARN, "replayed DLQ entry %" PRId64 " parked again by '%s' as entry %"
         PRId64 ": %s (before: %s)", slot->replay_of, by, dlq_id, reason,
         describe_history(slot->history, before, sizeof(before)));
}

void runner_log_replayed(runner *r, const sluice_batch *batch)
{
    int is_sink = r->index + 1 == r->pipeline->stage_count;
    char before[1536];

    for (size_t i = 0; i < batch->count; i++) {
        const sluice_batch_slot *slot = &batch->slots[i];

        if (slot->replay_of <= 0 || slot->outcome == SLUICE_RECORD_REJECTED)
            continue; /* not replayed, or parked again (runner_park_rejected said so) */
        if (slot->dropped && slot->reason)
            RLOG(r, SLUICE_LOG_INFO, "replayed DLQ entry %" PRId64 " dropped by '%s': %s "
                 "(before: %s)", slot->replay_of, r->stage->name, slot->reason,
                 describe_history(slot->history, before, sizeof(before)));
        else if (slot->dropped)
            RLOG(r, SLUICE_LOG_INFO, "replayed DLQ entry %" PRId64 " dropped by '%s' (its "
                 "plugin filtered it out without saying why) (before: %s)", slot->replay_of,
                 r->stage->name, describe_history(slot->history, before, sizeof(before)));
        else if (is_sink && slot->outcome == SLUICE_RECORD_DONE)
            RLOG(r, SLUICE_LOG_INFO, "replayed DLQ entry %" PRId64 " delivered by '%s' "
                 "(before: %s)", slot->replay_of, r->stage->name,
                 describe_history(slot->history, before, sizeof(before)));
        else if (!is_sink)
            RLOG(r, SLUICE_LOG_DEBUG, "replayed DLQ entry %" PRId64 " passed on by '%s'",
                 slot->replay_of, r->stage->name);
    }
}
