/* annexcloud_model.c: the emulated Annex Cloud program (members, ledger, segments, changes) and its API shapes. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "annexcloud_emu.h"

#define SEARCH_LIMIT 50
#define ACTIVITY_PAGE_SIZE 10
#define ACTION_PURCHASE 109
#define ACTION_MANUAL 100
#define ACTION_ENROL 101

typedef struct member {
    char *id;
    json_t *record;               /* canonical member record (owned) */
    json_t *ledger;               /* activity items, ascending createDate (owned) */
    unsigned long long changed_seq;
    bool has_opt_in;              /* opt_in_date parsed */
    time_t opt_in;
} member;

typedef struct pending_change {
    time_t at;
    char *line;                   /* the raw JSON line (kept unparsed: a tenth of the memory) */
    size_t length;
} pending_change;

struct annex_model {
    char *site_id;
    json_t *tiers;                /* [{"name","points"}] ascending */
    json_t *segments;             /* [{"id","name"}] */
    json_t *rewards;              /* [{"id","name","points"}] ascending points */
    member *members;
    size_t count, capacity;
    json_t *index;                /* {id: position in members} */
    size_t *by_opt_in;            /* positions sorted by (opt_in, id) */
    pending_change *changes;      /* change lines in file order, parsed when applied */
    size_t change_count, change_capacity;
    size_t next_change;
    unsigned long long seq;       /* bumped per applied change; initial state is 1 */
    unsigned long activity_serial;
    unsigned long ledger_items_dropped; /* change activity items the record contradicts */
    time_t clock;
};

/* ------------------------------------------------------------ helpers */

/* Write a formatted message to err (if any). Always returns -1. */
static int set_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_error(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *record_string(const json_t *record, const char *key)
{
    return json_string_value(json_object_get(record, key));
}

/* Copy record[from] to out[to] unchanged, when present (null stays null). */
static void copy_as_is(json_t *out, const char *to, const json_t *record, const char *from)
{
    json_t *value = json_object_get(record, from);
    if (value)
        json_object_set(out, to, value);
}

/* Canonical timestamp ("YYYY-MM-DDTHH:MM:SSZ") -> Annex "…+0000" form;
 * anything else (a bad value, a time without a zone) is served as is, so
 * bad data reaches the transforms instead of being repaired here. */
static void copy_timestamp(json_t *out, const char *to, const json_t *record, const char *from)
{
    json_t *value = json_object_get(record, from);
    const char *text = json_string_value(value);
    time_t t;
    char buf[40];
    if (text && strlen(text) == 20 && text[10] == 'T' && text[19] == 'Z' &&
        annex_time_parse(text, &t) == 0)
        json_object_set_new(out, to, json_string(annex_time_format(t, buf, sizeof buf)));
    else if (value)
        json_object_set(out, to, value);
}

/* "yes" -> "YES", "active" -> "ACTIVE": the listed lower-case values are upper-cased, any
 * other value is served as it is (bad data must reach the transforms). */
static void copy_enum_upper(json_t *out, const char *to, const json_t *record, const char *from,
                            const char *allowed_a, const char *allowed_b)
{
    json_t *value = json_object_get(record, from);
    const char *text = json_string_value(value);
    if (text && (strcmp(text, allowed_a) == 0 || strcmp(text, allowed_b) == 0)) {
        char upper[16];
        size_t i = 0;
        for (; text[i] && i + 1 < sizeof upper; i++)
            upper[i] = (char)toupper((unsigned char)text[i]);
        upper[i] = '\0';
        json_object_set_new(out, to, json_string(upper));
    } else if (value) {
        json_object_set(out, to, value);
    }
}

static member *find_member(const annex_model *model, const char *id)
{
    json_t *position = json_object_get(model->index, id);
    if (!json_is_integer(position))
        return NULL;
    return &model->members[json_integer_value(position)];
}

/* Date part (YYYY-MM-DD) of a ledger item's createDate into buf; "" if unparsable. */
static const char *item_date(const json_t *item, char *buf, size_t len)
{
    time_t t;
    struct tm tm;
    buf[0] = '\0';
    if (annex_time_parse(record_string(item, "createDate"), &t) == 0) {
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%d", &tm);
    }
    return buf;
}

/* ------------------------------------------------------------ ledger */

/* A new ledger item (new reference) with every documented key. */
static json_t *ledger_item(annex_model *model, int action_id, const char *activity, json_int_t points,
                           const char *display, time_t at)
{
    char id[48], date[40];
    snprintf(id, sizeof id, "emu-act-%08lu", ++model->activity_serial);
    bool credit = strcmp(activity, "CREDIT") == 0;
    return json_pack("{s:s, s:i, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:n, s:n, s:s, s:n}",
                     "activityId", id, "actionId", action_id, "activity", activity,
                     "credit", credit ? json_integer(points) : json_null(),
                     "debit", credit ? json_null() : json_integer(points),
                     "pointType", "Standard", "pointStatus", "Released", "displayText", display,
                     "reason", "", "orderId", action_id == ACTION_PURCHASE ? "emu-order" : "",
                     "rewardId", "rewardCode", "createDate", annex_time_format(at, date, sizeof date),
                     "expireDate");
}

/* Insert item keeping the ledger sorted by createDate (stable: after equal dates). Steals item. */
static void ledger_insert(json_t *ledger, json_t *item)
{
    time_t at, other;
    size_t position = json_array_size(ledger);
    if (annex_time_parse(record_string(item, "createDate"), &at) == 0) {
        while (position > 0 &&
               annex_time_parse(record_string(json_array_get(ledger, position - 1), "createDate"),
                                &other) == 0 && other > at)
            position--;
    }
    json_array_insert_new(ledger, position, item);
}

/* Latest date (YYYY-MM-DD) of ledger items, only purchases when purchases_only; "" if none. */
static void ledger_last_date(const json_t *ledger, bool purchases_only, char *buf, size_t len)
{
    size_t i;
    json_t *item;
    char date[16];
    buf[0] = '\0';
    json_array_foreach(ledger, i, item) {
        if (purchases_only && json_integer_value(json_object_get(item, "actionId")) != ACTION_PURCHASE)
            continue;
        item_date(item, date, sizeof date);
        if (strcmp(date, buf) > 0)
            snprintf(buf, len, "%s", date);
    }
}

/* Parse a canonical date into noon UTC of that day (so the date survives any rendering). */
static bool date_noon(const char *date, time_t *out)
{
    if (!date || strlen(date) != 10 || annex_time_parse(date, out) != 0)
        return false;
    *out += 12 * 3600;
    return true;
}

/* Make the ledger agree with the record's activity dates: an empty ledger gets items on the
 * first/last activity and purchase dates (the earliest carries earned_points); a later last
 * purchase or activity date than the ledger knows gets one more item. `at` is used when an
 * item falls on the day of the change. */
static void ledger_reconcile(annex_model *model, member *m, time_t at)
{
    const json_t *record = m->record;
    time_t first_activity, first_purchase, last_purchase, last_activity;
    bool has_first_activity = date_noon(record_string(record, "first_activity_date"), &first_activity);
    bool has_first_purchase = date_noon(record_string(record, "first_purchase_date"), &first_purchase);
    bool has_last_purchase = date_noon(record_string(record, "last_purchase_date"), &last_purchase);
    bool has_last_activity = date_noon(record_string(record, "last_activity_date"), &last_activity);
    char known[16], wanted[16];

    if (json_array_size(m->ledger) == 0) {
        json_int_t earned = json_integer_value(json_object_get(record, "earned_points"));
        if (earned < 0)
            earned = 0;
        if (has_first_activity && (!has_first_purchase || first_activity < first_purchase)) {
            ledger_insert(m->ledger, ledger_item(model, ACTION_ENROL, "CREDIT", earned, "Sign up", first_activity));
            earned = 0;
        }
        if (has_first_purchase) {
            ledger_insert(m->ledger, ledger_item(model, ACTION_PURCHASE, "CREDIT", earned, "Purchase", first_purchase));
            earned = 0;
        }
        if (has_last_purchase && (!has_first_purchase || last_purchase > first_purchase))
            ledger_insert(m->ledger, ledger_item(model, ACTION_PURCHASE, "CREDIT", 0, "Purchase", last_purchase));
    }
    ledger_last_date(m->ledger, true, known, sizeof known);
    if (has_last_purchase) {
        snprintf(wanted, sizeof wanted, "%s", record_string(record, "last_purchase_date"));
        if (strcmp(wanted, known) > 0) {
            time_t when = at - at % 86400 + 43200 == last_purchase ? at : last_purchase;
            ledger_insert(m->ledger, ledger_item(model, ACTION_PURCHASE, "CREDIT", 0, "Purchase", when));
        }
    }
    ledger_last_date(m->ledger, false, known, sizeof known);
    if (has_last_activity) {
        snprintf(wanted, sizeof wanted, "%s", record_string(record, "last_activity_date"));
        if (strcmp(wanted, known) > 0) {
            time_t when = at - at % 86400 + 43200 == last_activity ? at : last_activity;
            ledger_insert(m->ledger, ledger_item(model, ACTION_MANUAL, "CREDIT", 0, "Points Credit", when));
        }
    }
}

/* True when an item dated `date` (YYYY-MM-DD) agrees with the record: on or before its
 * last_activity_date, and for a purchase (actionId 109) on or before its last_purchase_date. */
static bool item_agrees_with_record(const json_t *record, const char *date, bool purchase)
{
    const char *last_activity = record_string(record, "last_activity_date");
    const char *last_purchase = record_string(record, "last_purchase_date");
    if (!last_activity || strcmp(date, last_activity) > 0)
        return false;
    return !purchase || (last_purchase && strcmp(date, last_purchase) <= 0);
}

/* Normalise a change's activity item (copy) and add it: missing keys get defaults, the
 * createDate (default: the change time) is rendered in the Annex form. An item the member
 * record contradicts (dated after its last activity or, for a purchase, its last purchase:
 * the generator does not count e.g. expiries or held orders as activity) is left out and
 * counted, so first/last activity and purchase dates read from the ledger always equal the
 * record's. */
static void ledger_add_change_item(annex_model *model, member *m, const json_t *activity, time_t at)
{
    json_t *item = json_deep_copy(activity);
    time_t when = at;
    char buf[40];
    if (!item)
        return;
    const char *created = record_string(item, "createDate");
    bool created_ok = !created || annex_time_parse(created, &when) == 0; /* else: served as is */
    struct tm when_tm;
    char date[16];
    gmtime_r(&when, &when_tm);
    strftime(date, sizeof date, "%Y-%m-%d", &when_tm);
    bool purchase = json_integer_value(json_object_get(item, "actionId")) == ACTION_PURCHASE;
    if (!item_agrees_with_record(m->record, date, purchase)) {
        model->ledger_items_dropped++;
        json_decref(item);
        return;
    }
    if (!json_object_get(item, "activityId")) {
        snprintf(buf, sizeof buf, "emu-act-%08lu", ++model->activity_serial);
        json_object_set_new(item, "activityId", json_string(buf));
    }
    if (created_ok)
        json_object_set_new(item, "createDate", json_string(annex_time_format(when, buf, sizeof buf)));
    static const char *const null_keys[] = {"credit", "debit", "rewardId", "rewardCode", "expireDate"};
    for (size_t i = 0; i < sizeof null_keys / sizeof null_keys[0]; i++)
        if (!json_object_get(item, null_keys[i]))
            json_object_set_new(item, null_keys[i], json_null());
    static const char *const empty_keys[] = {"reason", "orderId", "displayText"};
    for (size_t i = 0; i < sizeof empty_keys / sizeof empty_keys[0]; i++)
        if (!json_object_get(item, empty_keys[i]))
            json_object_set_new(item, empty_keys[i], json_string(""));
    if (!json_object_get(item, "pointType"))
        json_object_set_new(item, "pointType", json_string("Standard"));
    if (!json_object_get(item, "pointStatus"))
        json_object_set_new(item, "pointStatus", json_string("Released"));
    ledger_insert(m->ledger, item);
}

/* ------------------------------------------------------------ segments, tiers, rewards */

/* Make sure every segment name of the record is in the program (new ones get the next
 * numeric id). */
static void register_segments(annex_model *model, const json_t *record)
{
    size_t i, j;
    json_t *name, *segment;
    json_array_foreach(json_object_get(record, "segments"), i, name) {
        if (!json_is_string(name))
            continue;
        bool known = false;
        long highest = 554;
        json_array_foreach(model->segments, j, segment) {
            const char *id_text = record_string(segment, "id");
            char *end = NULL;
            long id = id_text ? strtol(id_text, &end, 10) : 0;
            if (id_text && end && *end == '\0' && id > highest)
                highest = id;
            if (strcmp(record_string(segment, "name"), json_string_value(name)) == 0)
                known = true;
        }
        if (!known) {
            char id_text[24];
            snprintf(id_text, sizeof id_text, "%ld", highest + 1);
            json_array_append_new(model->segments, json_pack("{s:s,s:O}", "id", id_text, "name", name));
        }
    }
}

static bool member_in_segment(const member *m, const char *name)
{
    size_t i;
    json_t *value;
    json_array_foreach(json_object_get(m->record, "segments"), i, value)
        if (json_is_string(value) && strcmp(json_string_value(value), name) == 0)
            return true;
    return false;
}

static const json_t *segment_by_id(const annex_model *model, const char *segment_id)
{
    size_t i;
    json_t *segment;
    json_array_foreach(model->segments, i, segment)
        if (strcmp(record_string(segment, "id"), segment_id) == 0)
            return segment;
    return NULL;
}

/* Sort comparator: rewards ascending by points. */
static int compare_reward_points(const void *a, const void *b)
{
    json_int_t pa = json_integer_value(json_object_get(*(json_t *const *)a, "points"));
    json_int_t pb = json_integer_value(json_object_get(*(json_t *const *)b, "points"));
    return pa < pb ? -1 : pa > pb;
}

/* ------------------------------------------------------------ members */

static void member_refresh_keys(member *m)
{
    const char *opt_in = record_string(m->record, "opt_in_date");
    m->has_opt_in = opt_in && annex_time_parse(opt_in, &m->opt_in) == 0;
}

/* Add or replace the record of a member (steals record). Returns the member or NULL (OOM). */
static member *member_put(annex_model *model, json_t *record)
{
    const char *id = record_string(record, "loyalty_id");
    member *m = find_member(model, id);
    if (m) {
        json_decref(m->record);
        m->record = record;
        member_refresh_keys(m);
        return m;
    }
    if (model->count == model->capacity) {
        size_t capacity = model->capacity ? model->capacity * 2 : 256;
        member *grown = realloc(model->members, capacity * sizeof *grown);
        size_t *grown_order = realloc(model->by_opt_in, capacity * sizeof *grown_order);
        if (grown)
            model->members = grown;
        if (grown_order)
            model->by_opt_in = grown_order;
        if (!grown || !grown_order) {
            json_decref(record);
            return NULL;
        }
        model->capacity = capacity;
    }
    m = &model->members[model->count];
    memset(m, 0, sizeof *m);
    m->id = strdup(id);
    m->record = record;
    m->ledger = json_array();
    member_refresh_keys(m);
    json_object_set_new(model->index, id, json_integer((json_int_t)model->count));
    model->by_opt_in[model->count] = model->count;
    model->count++;
    return m;
}

static const annex_model *sort_model; /* qsort has no user pointer; model access is serialised */

/* Sort comparator: members by opt-in time (absent last), then id. */
static int compare_opt_in(const void *a, const void *b)
{
    const member *ma = &sort_model->members[*(const size_t *)a];
    const member *mb = &sort_model->members[*(const size_t *)b];
    if (ma->has_opt_in != mb->has_opt_in)
        return ma->has_opt_in ? -1 : 1;
    if (ma->has_opt_in && ma->opt_in != mb->opt_in)
        return ma->opt_in < mb->opt_in ? -1 : 1;
    return strcmp(ma->id, mb->id);
}

static void sort_by_opt_in(annex_model *model)
{
    sort_model = model;
    for (size_t i = 0; i < model->count; i++)
        model->by_opt_in[i] = i;
    qsort(model->by_opt_in, model->count, sizeof *model->by_opt_in, compare_opt_in);
    sort_model = NULL;
}

/* ------------------------------------------------------------ loading */

/* Read a JSON-lines file, calling handle(model, line_json, line_no) for each non-empty line.
 * Returns 0, or -1 with "path:line: message" in err. A missing file is an error only when
 * required. */
static int load_jsonl(annex_model *model, const char *path, bool required,
                      int (*handle)(annex_model *, json_t *, const char *, size_t, char *, size_t),
                      char *err, size_t err_len)
{
    int result = -1;
    char *line = NULL;
    size_t line_cap = 0;
    long line_no = 0;
    FILE *file = fopen(path, "r");
    if (!file) {
        if (!required && errno == ENOENT)
            return 0;
        return set_error(err, err_len, "%s: %s", path, strerror(errno));
    }
    ssize_t length;
    while ((length = getline(&line, &line_cap, file)) >= 0) {
        line_no++;
        while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
            line[--length] = '\0';
        if (length == 0)
            continue;
        json_error_t json_error;
        json_t *value = json_loadb(line, (size_t)length, 0, &json_error);
        if (!value) {
            set_error(err, err_len, "%s:%ld: invalid JSON: %s", path, line_no, json_error.text);
            goto out;
        }
        char why[256] = "";
        if (handle(model, value, line, (size_t)length, why, sizeof why) != 0) {
            set_error(err, err_len, "%s:%ld: %s", path, line_no, why);
            goto out;
        }
    }
    result = 0;
out:
    free(line);
    fclose(file);
    return result;
}

/* members.jsonl line: a canonical record with a string loyalty_id (steals value). */
static int handle_member_line(annex_model *model, json_t *value, const char *line, size_t length,
                              char *why, size_t why_len)
{
    (void)line;
    (void)length;
    if (!json_is_object(value) || !json_is_string(json_object_get(value, "loyalty_id"))) {
        json_decref(value);
        return set_error(why, why_len, "member record without a string loyalty_id");
    }
    if (find_member(model, record_string(value, "loyalty_id"))) {
        set_error(why, why_len, "duplicate loyalty_id %s", record_string(value, "loyalty_id"));
        json_decref(value);
        return -1;
    }
    register_segments(model, value);
    member *m = member_put(model, value);
    if (!m)
        return set_error(why, why_len, "out of memory");
    m->changed_seq = 1;
    ledger_reconcile(model, m, model->clock);
    return 0;
}

/* changes.jsonl line: {"at": timestamp, "type", "member": {loyalty_id...}} (steals value);
 * validated now, kept as its raw line. */
static int handle_change_line(annex_model *model, json_t *value, const char *line, size_t length,
                              char *why, size_t why_len)
{
    time_t at;
    const json_t *record = json_object_get(value, "member");
    int result = -1;
    if (!json_is_object(value) || annex_time_parse(record_string(value, "at"), &at) != 0)
        set_error(why, why_len, "change without a valid \"at\" timestamp");
    else if (!json_is_object(record) || !json_is_string(json_object_get(record, "loyalty_id")))
        set_error(why, why_len, "change without a \"member\" record with a string loyalty_id");
    else if (json_object_get(value, "activity") && !json_is_object(json_object_get(value, "activity")))
        set_error(why, why_len, "\"activity\" is not an object");
    else
        result = 0;
    if (result == 0 && model->change_count == model->change_capacity) {
        size_t capacity = model->change_capacity ? model->change_capacity * 2 : 1024;
        pending_change *grown = realloc(model->changes, capacity * sizeof *grown);
        if (grown) {
            model->changes = grown;
            model->change_capacity = capacity;
        } else {
            result = set_error(why, why_len, "out of memory");
        }
    }
    if (result == 0) {
        pending_change *change = &model->changes[model->change_count];
        change->line = malloc(length + 1);
        if (change->line) {
            memcpy(change->line, line, length);
            change->line[length] = '\0';
            change->length = length;
            change->at = at;
            model->change_count++;
        } else {
            result = set_error(why, why_len, "out of memory");
        }
    }
    json_decref(value);
    return result;
}

/* program.json: tiers, segments, rewards, start, site_id. Absent file: defaults. */
static int load_program_file(annex_model *model, const char *path, char *err, size_t err_len)
{
    json_error_t json_error;
    json_t *program = json_load_file(path, 0, &json_error);
    int result = -1;
    if (!program) {
        FILE *probe = fopen(path, "r");
        if (!probe) /* no program.json: default ladder, segments from members */
            return 0;
        fclose(probe);
        return set_error(err, err_len, "%s:%d: invalid JSON: %s", path, json_error.line, json_error.text);
    }
    const char *start = record_string(program, "start");
    if (start && annex_time_parse(start, &model->clock) != 0) {
        set_error(err, err_len, "%s: \"start\" is not a timestamp: %s", path, start);
        goto out;
    }
    json_t *tiers = json_object_get(program, "tiers");
    if (json_is_array(tiers) && json_array_size(tiers) > 0) {
        json_decref(model->tiers);
        model->tiers = json_deep_copy(tiers);
    }
    json_t *segments = json_object_get(program, "segments"), *rewards = json_object_get(program, "rewards");
    size_t i;
    json_t *item;
    json_array_foreach(segments, i, item) {
        if (!json_is_string(json_object_get(item, "id")) || !json_is_string(json_object_get(item, "name"))) {
            set_error(err, err_len, "%s: segments[%zu] needs string \"id\" and \"name\"", path, i);
            goto out;
        }
        json_array_append(model->segments, item);
    }
    json_array_foreach(rewards, i, item) {
        if (!json_is_string(json_object_get(item, "name")) || !json_is_integer(json_object_get(item, "points"))) {
            set_error(err, err_len, "%s: rewards[%zu] needs string \"name\" and integer \"points\"", path, i);
            goto out;
        }
        json_array_append(model->rewards, item);
    }
    result = 0;
out:
    json_decref(program);
    return result;
}

annex_model *annex_model_load(const annex_model_options *options, char *err, size_t err_len)
{
    annex_model *model = calloc(1, sizeof *model);
    char path[4096];
    if (!model) {
        set_error(err, err_len, "out of memory");
        return NULL;
    }
    model->site_id = strdup(options->site_id);
    model->index = json_object();
    model->segments = json_array();
    model->rewards = json_array();
    model->tiers = json_pack("[{s:s,s:i},{s:s,s:i},{s:s,s:i},{s:s,s:i}]", "name", "Bronze", "points", 0,
                             "name", "Silver", "points", 1000, "name", "Gold", "points", 5000,
                             "name", "Platinum", "points", 15000);
    model->seq = 1;
    model->clock = time(NULL);
    if (options->program_dir) {
        snprintf(path, sizeof path, "%s/program.json", options->program_dir);
        if (load_program_file(model, path, err, err_len) != 0)
            goto fail;
        snprintf(path, sizeof path, "%s/annex/members.jsonl", options->program_dir);
        if (load_jsonl(model, path, true, handle_member_line, err, err_len) != 0)
            goto fail;
        snprintf(path, sizeof path, "%s/annex/changes.jsonl", options->program_dir);
        if (load_jsonl(model, path, false, handle_change_line, err, err_len) != 0)
            goto fail;
    }
    /* rewards ascending by points (json arrays have no sort: go through a C array) */
    size_t reward_count = json_array_size(model->rewards);
    if (reward_count > 1) {
        json_t **sorted = calloc(reward_count, sizeof *sorted);
        if (sorted) {
            for (size_t i = 0; i < reward_count; i++)
                sorted[i] = json_incref(json_array_get(model->rewards, i));
            qsort(sorted, reward_count, sizeof *sorted, compare_reward_points);
            json_array_clear(model->rewards);
            for (size_t i = 0; i < reward_count; i++)
                json_array_append_new(model->rewards, sorted[i]);
            free(sorted);
        }
    }
    sort_by_opt_in(model);
    return model;
fail:
    annex_model_destroy(&model);
    return NULL;
}

void annex_model_destroy(annex_model **model_p)
{
    annex_model *model = model_p ? *model_p : NULL;
    if (!model)
        return;
    for (size_t i = 0; i < model->count; i++) {
        free(model->members[i].id);
        json_decref(model->members[i].record);
        json_decref(model->members[i].ledger);
    }
    free(model->members);
    free(model->by_opt_in);
    free(model->site_id);
    json_decref(model->index);
    for (size_t i = 0; i < model->change_count; i++)
        free(model->changes[i].line);
    free(model->changes);
    json_decref(model->segments);
    json_decref(model->rewards);
    json_decref(model->tiers);
    free(model);
    *model_p = NULL;
}

time_t annex_model_clock(const annex_model *model) { return model->clock; }
void annex_model_set_clock(annex_model *model, time_t clock) { model->clock = clock; }
size_t annex_model_changes_applied(const annex_model *model) { return model->next_change; }
size_t annex_model_changes_total(const annex_model *model) { return model->change_count; }
unsigned long annex_model_ledger_items_dropped(const annex_model *model) { return model->ledger_items_dropped; }

size_t annex_model_advance(annex_model *model, time_t until, annex_change_cb cb, void *user)
{
    size_t applied = 0;
    while (model->next_change < model->change_count) {
        const pending_change *pending = &model->changes[model->next_change];
        time_t at = pending->at;
        if (at > until)
            break;
        model->next_change++;
        json_t *change = json_loadb(pending->line, pending->length, 0, NULL); /* validated at load */
        json_t *record = change ? json_incref(json_object_get(change, "member")) : NULL;
        if (!record) {
            json_decref(change);
            continue;
        }
        if (json_is_true(json_object_get(change, "deliver_only"))) {
            /* Bad data Annex Cloud sends but does not keep: the webhook is
             * built from this record, the member's state stays as it was. */
            member *known = find_member(model, json_string_value(json_object_get(record, "loyalty_id")));
            if (known) {
                json_t *kept = known->record;
                known->record = record;
                if (cb)
                    cb(user, change, known->id);
                known->record = kept;
                applied++;
            }
            json_decref(record);
            json_decref(change);
            continue;
        }
        register_segments(model, record);
        member *m = member_put(model, record);
        if (!m) {
            json_decref(change);
            continue;
        }
        m->changed_seq = ++model->seq;
        if (json_is_object(json_object_get(change, "activity")))
            ledger_add_change_item(model, m, json_object_get(change, "activity"), at);
        ledger_reconcile(model, m, at);
        if (at > model->clock)
            model->clock = at;
        applied++;
        /* A silent change (a value the service moves by itself, such as the
         * rolling tier window) is applied but announced to nobody. */
        if (cb && !json_is_true(json_object_get(change, "silent")))
            cb(user, change, m->id);
        json_decref(change);
    }
    if (until > model->clock)
        model->clock = until;
    if (applied)
        sort_by_opt_in(model);
    return applied;
}

/* ------------------------------------------------------------ API shapes */

/* GET /users keys (flat) of a member. New reference. */
static json_t *user_object(const annex_model *model, const member *m)
{
    const json_t *record = m->record;
    json_t *user = json_object();
    json_object_set_new(user, "siteId", json_string(model->site_id));
    json_object_set_new(user, "id", json_string(m->id));
    copy_as_is(user, "email", record, "email");
    copy_as_is(user, "firstName", record, "first_name");
    copy_as_is(user, "lastName", record, "last_name");
    copy_as_is(user, "zipCode", record, "zip_code");
    copy_enum_upper(user, "optInStatus", record, "opt_in_status", "yes", "no");
    copy_timestamp(user, "optInDate", record, "opt_in_date");
    copy_enum_upper(user, "status", record, "active_status", "active", "inactive");
    copy_as_is(user, "phone", record, "phone");
    copy_as_is(user, "birthDate", record, "birthday");
    copy_as_is(user, "anniversaryDate", record, "anniversary_date");
    json_object_set_new(user, "userProfileImageUrl", json_string(""));
    copy_timestamp(user, "createDate", record, "opt_in_date");
    copy_timestamp(user, "updateDate", record, "as_of");
    copy_as_is(user, "optOutDate", record, "opt_out_date"); /* emulator extension */
    json_object_set_new(user, "extendedAttribute", json_object());
    return user;
}

json_t *annex_model_user(const annex_model *model, const char *id, bool wrap_data)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    json_t *user = user_object(model, m);
    return wrap_data ? json_pack("{s:o}", "Data", user) : user;
}

json_t *annex_model_points(const annex_model *model, const char *id)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    const json_t *record = m->record;
    json_t *points = json_pack("{s:s,s:s}", "siteId", model->site_id, "id", m->id);
    copy_as_is(points, "availablePoints", record, "available_points");
    copy_as_is(points, "usedPoints", record, "used_points");
    json_object_set_new(points, "negativePoints", json_integer(0));
    copy_as_is(points, "expiredPoints", record, "expired_points");
    copy_as_is(points, "lifetimePoints", record, "earned_points");
    copy_as_is(points, "holdPoints", record, "hold_points");
    copy_as_is(points, "usedPointsOnReward", record, "used_points");
    copy_as_is(points, "pointsToExpire", record, "next_expiring_points");
    copy_as_is(points, "pointsToExpireDate", record, "points_expiration_date");
    copy_as_is(points, "pointsToNextTier", record, "points_req_for_next_tier");
    json_object_set_new(points, "spendToNextTier", json_integer(0));
    json_object_set_new(points, "creditsToCurrencyRatio", json_integer(1));
    copy_as_is(points, "creditsToCurrencyValue", record, "available_points");
    return points;
}

json_t *annex_model_tiers(const annex_model *model, const char *id)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    const json_t *record = m->record;
    json_t *tiers = json_pack("{s:s,s:s}", "siteId", model->site_id, "id", m->id);
    copy_as_is(tiers, "currentTier", record, "current_tier");
    json_t *next = json_object_get(record, "next_tier");
    if (json_is_null(next))
        json_object_set_new(tiers, "nextTier", json_string(""));
    else if (next)
        json_object_set(tiers, "nextTier", next);
    const char *current = record_string(record, "current_tier"), *previous = "";
    size_t i;
    json_t *tier;
    json_array_foreach(model->tiers, i, tier)
        if (current && i > 0 && strcmp(record_string(tier, "name"), current) == 0)
            previous = record_string(json_array_get(model->tiers, i - 1), "name");
    json_object_set_new(tiers, "previousTier", json_string(previous));
    copy_as_is(tiers, "pointsToNextTier", record, "points_req_for_next_tier");
    json_object_set_new(tiers, "purchaseRatio", json_integer(1));
    json_object_set_new(tiers, "currentTierPurchaseRatio", json_integer(1));
    json_object_set_new(tiers, "tierLimitType", json_string("Rolling"));
    json_object_set_new(tiers, "tierLimitPeriod", json_string("365"));
    copy_as_is(tiers, "tierAchieveDate", record, "tier_achieve_date"); /* emulator extension */
    return tiers;
}

static bool has_reward(const json_t *record, const char *name)
{
    size_t i;
    json_t *value;
    json_array_foreach(json_object_get(record, "available_rewards"), i, value)
        if (json_is_string(value) && strcmp(json_string_value(value), name) == 0)
            return true;
    return false;
}

json_t *annex_model_rewards(const annex_model *model, const char *id)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    const json_t *record = m->record;
    json_t *result = json_pack("{s:s,s:s,s:s}", "siteId", model->site_id, "id", m->id,
                               "creditsToCurrencyRatio", "1");
    copy_as_is(result, "creditsToCurrencyValue", record, "available_points");
    json_t *details = json_array();
    size_t i;
    json_t *value;
    /* member rewards the program does not list come first, creditRequired 0 */
    json_array_foreach(json_object_get(record, "available_rewards"), i, value) {
        bool listed = false;
        size_t j;
        json_t *reward;
        json_array_foreach(model->rewards, j, reward)
            if (json_is_string(value) && strcmp(record_string(reward, "name"), json_string_value(value)) == 0)
                listed = true;
        if (!listed && json_is_string(value)) {
            char reward_id[32];
            snprintf(reward_id, sizeof reward_id, "emu-%zu", i);
            json_array_append_new(details, json_pack("{s:s,s:O,s:i,s:s,s:s,s:s}", "rewardId", reward_id,
                                                     "displayText", value, "creditRequired", 0,
                                                     "eligible", "YES", "rewardUrl", "", "rewardImageUrl", ""));
        }
    }
    json_array_foreach(model->rewards, i, value) {
        const char *name = record_string(value, "name");
        const char *reward_id = record_string(value, "id");
        json_array_append_new(details, json_pack("{s:s,s:s,s:O,s:s,s:s,s:s}", "rewardId", reward_id ? reward_id : "",
                                                 "displayText", name, "creditRequired",
                                                 json_object_get(value, "points"), "eligible",
                                                 has_reward(record, name) ? "YES" : "NO",
                                                 "rewardUrl", "", "rewardImageUrl", ""));
    }
    json_object_set_new(result, "rewardDetail", details);
    return result;
}

json_t *annex_model_activity(const annex_model *model, const char *id, long page)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    size_t total = json_array_size(m->ledger);
    long pages = total == 0 ? 1 : (long)((total + ACTIVITY_PAGE_SIZE - 1) / ACTIVITY_PAGE_SIZE);
    json_t *items = json_array();
    /* newest first: page 1 holds the latest ACTIVITY_PAGE_SIZE items */
    if (page >= 1 && page <= pages) {
        size_t skip = (size_t)(page - 1) * ACTIVITY_PAGE_SIZE;
        for (size_t k = skip; k < total && k < skip + ACTIVITY_PAGE_SIZE; k++)
            json_array_append(items, json_array_get(m->ledger, total - 1 - k));
    }
    return json_pack("{s:s,s:s,s:i,s:i,s:i,s:o}", "siteId", model->site_id, "id", m->id,
                     "currentPage", (json_int_t)page, "pages", (json_int_t)pages,
                     "totalActivityCount", (json_int_t)total, "activityDetail", items);
}

json_t *annex_model_segment_names(const annex_model *model, const char *id)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    json_t *segments = json_object_get(m->record, "segments");
    return json_is_array(segments) ? json_deep_copy(segments) : json_array();
}

/* userId list of a segment, in loading order. */
static json_t *segment_members(const annex_model *model, const char *name)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < model->count; i++)
        if (member_in_segment(&model->members[i], name))
            json_array_append_new(ids, json_string(model->members[i].id));
    return ids;
}

json_t *annex_model_segment_list(const annex_model *model, const char *status)
{
    json_t *list = json_array();
    size_t i;
    json_t *segment;
    if (strcasecmp(status, "all") == 0 || strcasecmp(status, "active") == 0) {
        json_array_foreach(model->segments, i, segment) {
            json_t *ids = segment_members(model, record_string(segment, "name"));
            json_array_append_new(list, json_pack("{s:O,s:O,s:s,s:s,s:s,s:s,s:i}",
                                                  "segmentId", json_object_get(segment, "id"),
                                                  "segmentName", json_object_get(segment, "name"),
                                                  "segmentType", "static", "segmentFromDate", "",
                                                  "segmentToDate", "", "status", "active",
                                                  "members", (json_int_t)json_array_size(ids)));
            json_decref(ids);
        }
    }
    if (json_array_size(list) == 0) {
        json_decref(list);
        return NULL;
    }
    return json_pack("{s:s,s:o}", "siteId", model->site_id, "segmentList", list);
}

json_t *annex_model_eligible_segment(const annex_model *model, const char *segment_id)
{
    const json_t *segment = segment_by_id(model, segment_id);
    if (!segment)
        return NULL;
    return json_pack("{s:s,s:s,s:O,s:o}", "siteId", model->site_id, "segmentId", segment_id,
                     "segmentName", json_object_get(segment, "name"), "userId",
                     segment_members(model, record_string(segment, "name")));
}

json_t *annex_model_segment(const annex_model *model, const char *segment_id)
{
    const json_t *segment = segment_by_id(model, segment_id);
    if (!segment)
        return NULL;
    json_t *detail = json_pack(
        "{s:s,s:O,s:s,s:s,s:s,s:{s:o},s:{s:[],s:[]},s:{},s:{},s:{}}", "segmentId", segment_id,
        "segmentName", json_object_get(segment, "name"), "segmentType", "static",
        "segmentDateFrom", "", "segmentDateTo", "", "memberDetails", "userId",
        segment_members(model, record_string(segment, "name")), "actionDetails", "actions",
        "actionSeries", "pointsDetails", "purchaseDetails", "storeDetails");
    return json_pack("{s:o}", "segmentDetail", detail);
}

json_t *annex_model_webhook_data(const annex_model *model, const char *id, bool full)
{
    const member *m = find_member(model, id);
    if (!m)
        return NULL;
    if (!full) {
        json_t *data = json_pack("{s:s}", "id", m->id);
        copy_as_is(data, "email", m->record, "email");
        return data;
    }
    json_t *data = user_object(model, m);
    json_object_set_new(data, "points", annex_model_points(model, id));
    json_object_set_new(data, "tiers", annex_model_tiers(model, id));
    json_object_set_new(data, "rewards", annex_model_rewards(model, id));
    json_object_set_new(data, "segments", annex_model_segment_names(model, id));
    json_t *summary = json_object();
    copy_as_is(summary, "firstActivityDate", m->record, "first_activity_date");
    copy_as_is(summary, "lastActivityDate", m->record, "last_activity_date");
    copy_as_is(summary, "firstPurchaseDate", m->record, "first_purchase_date");
    copy_as_is(summary, "lastPurchaseDate", m->record, "last_purchase_date");
    json_object_set_new(data, "activitySummary", summary);
    return data;
}

/* ------------------------------------------------------------ search */

/* SQL LIKE with % and _ (case-insensitive, as MySQL's default collation). */
static bool like_match(const char *text, const char *pattern)
{
    while (*pattern) {
        if (*pattern == '%') {
            while (*pattern == '%')
                pattern++;
            if (!*pattern)
                return true;
            for (; *text; text++)
                if (like_match(text, pattern))
                    return true;
            return false;
        }
        if (!*text)
            return false;
        if (*pattern != '_' && tolower((unsigned char)*pattern) != tolower((unsigned char)*text))
            return false;
        pattern++;
        text++;
    }
    return *text == '\0';
}

typedef struct search_filter {
    const char *user_id, *email, *first_name, *last_name, *opt_in_status, *opt_in_date, *phone, *birth_date;
    bool has_start, has_end;
    time_t start, end;
} search_filter;

static bool string_equals_field(const json_t *value, const char *wanted, bool fold_case)
{
    const char *text = json_string_value(value);
    if (!text)
        return false;
    return fold_case ? strcasecmp(text, wanted) == 0 : strcmp(text, wanted) == 0;
}

static bool member_matches(const annex_model *model, const member *m, const search_filter *f)
{
    const json_t *record = m->record;
    if (f->user_id && strcmp(m->id, f->user_id) != 0)
        return false;
    if (f->email && !string_equals_field(json_object_get(record, "email"), f->email, true))
        return false;
    if (f->first_name && !(record_string(record, "first_name") &&
                           like_match(record_string(record, "first_name"), f->first_name)))
        return false;
    if (f->last_name && !(record_string(record, "last_name") &&
                          like_match(record_string(record, "last_name"), f->last_name)))
        return false;
    if (f->opt_in_status && !string_equals_field(json_object_get(record, "opt_in_status"), f->opt_in_status, true))
        return false;
    if (f->phone && !string_equals_field(json_object_get(record, "phone"), f->phone, false))
        return false;
    if (f->birth_date && !string_equals_field(json_object_get(record, "birthday"), f->birth_date, false))
        return false;
    if (f->opt_in_date) {
        time_t wanted;
        if (!m->has_opt_in || annex_time_parse(f->opt_in_date, &wanted) != 0 || wanted != m->opt_in)
            return false;
    }
    if (f->has_start && (!m->has_opt_in || m->opt_in < f->start))
        return false;
    if (f->has_end && (!m->has_opt_in || m->opt_in >= f->end))
        return false;
    (void)model;
    return true;
}

json_t *annex_model_search(const annex_model *model, const json_t *data_search, char *err, size_t err_len)
{
    search_filter filter;
    memset(&filter, 0, sizeof filter);
    static const struct { const char *key; size_t offset; } string_keys[] = {
        {"userId", offsetof(search_filter, user_id)}, {"email", offsetof(search_filter, email)},
        {"firstName", offsetof(search_filter, first_name)}, {"lastName", offsetof(search_filter, last_name)},
        {"optInStatus", offsetof(search_filter, opt_in_status)}, {"optInDate", offsetof(search_filter, opt_in_date)},
        {"phone", offsetof(search_filter, phone)}, {"birthDate", offsetof(search_filter, birth_date)},
    };
    if (!json_is_object(data_search)) {
        set_error(err, err_len, "dataSearch must be an object");
        return NULL;
    }
    for (size_t i = 0; i < sizeof string_keys / sizeof string_keys[0]; i++) {
        json_t *value = json_object_get(data_search, string_keys[i].key);
        if (!value)
            continue;
        if (!json_is_string(value)) {
            set_error(err, err_len, "dataSearch.%s must be a string", string_keys[i].key);
            return NULL;
        }
        *(const char **)((char *)&filter + string_keys[i].offset) = json_string_value(value);
    }
    json_t *start = json_object_get(data_search, "optInStartDate"), *end = json_object_get(data_search, "optInEndDate");
    if (start && (!json_is_string(start) || annex_time_parse(json_string_value(start), &filter.start) != 0)) {
        set_error(err, err_len, "dataSearch.optInStartDate must be \"YYYY-MM-DD HH:MM:SS\"");
        return NULL;
    }
    if (end && (!json_is_string(end) || annex_time_parse(json_string_value(end), &filter.end) != 0)) {
        set_error(err, err_len, "dataSearch.optInEndDate must be \"YYYY-MM-DD HH:MM:SS\"");
        return NULL;
    }
    filter.has_start = start != NULL;
    filter.has_end = end != NULL;
    json_t *results = json_array();
    for (size_t k = 0; k < model->count && json_array_size(results) < SEARCH_LIMIT; k++) {
        const member *m = &model->members[model->by_opt_in[k]];
        if (filter.has_start && m->has_opt_in && m->opt_in < filter.start)
            continue;
        if (filter.has_end && m->has_opt_in && m->opt_in >= filter.end)
            break; /* sorted by opt-in: nothing later can match */
        if (member_matches(model, m, &filter))
            json_array_append_new(results, user_object(model, m));
    }
    return results;
}

json_t *annex_model_members(const annex_model *model)
{
    json_t *members = json_object();
    for (size_t i = 0; i < model->count; i++)
        json_object_set(members, model->members[i].id, model->members[i].record);
    return members;
}

unsigned long long annex_model_visit_changed(const annex_model *model, unsigned long long since_seq,
                                             annex_member_visit visit, void *user, int *rc)
{
    *rc = 0;
    for (size_t i = 0; i < model->count && *rc == 0; i++)
        if (since_seq == 0 || model->members[i].changed_seq > since_seq)
            *rc = visit(user, model->members[i].record);
    return model->seq;
}
