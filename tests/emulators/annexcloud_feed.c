/* annexcloud_feed.c: the emulator's Data Feed export: RFC 4180 CSV of changed members, written atomically. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "annexcloud_emu.h"

/* One export column: the header (the seed document's attribute name) and how to render it. */
typedef enum column_kind { COLUMN_PLAIN, COLUMN_UPPER_ENUM, COLUMN_TIMESTAMP, COLUMN_LIST } column_kind;

typedef struct column {
    const char *header;
    const char *field;   /* canonical field */
    column_kind kind;
} column;

static const column COLUMNS[] = {
    {"Loyalty Id", "loyalty_id", COLUMN_PLAIN},
    {"First Name", "first_name", COLUMN_PLAIN},
    {"Last Name", "last_name", COLUMN_PLAIN},
    {"Email Address", "email", COLUMN_PLAIN},
    {"Active Status", "active_status", COLUMN_UPPER_ENUM},
    {"Birthday", "birthday", COLUMN_PLAIN},
    {"Loyalty anniversary date", "anniversary_date", COLUMN_PLAIN},
    {"Phone No", "phone", COLUMN_PLAIN},
    {"Zip Code", "zip_code", COLUMN_PLAIN},
    {"Opt-in Status", "opt_in_status", COLUMN_UPPER_ENUM},
    {"Opt-in Date", "opt_in_date", COLUMN_TIMESTAMP},
    {"Available Points", "available_points", COLUMN_PLAIN},
    {"Earned Points", "earned_points", COLUMN_PLAIN},
    {"Used Points", "used_points", COLUMN_PLAIN},
    {"Hold Points", "hold_points", COLUMN_PLAIN},
    {"Next Expiring Points", "next_expiring_points", COLUMN_PLAIN},
    {"Points Expiration Date", "points_expiration_date", COLUMN_PLAIN},
    {"Expired Points", "expired_points", COLUMN_PLAIN},
    {"Current Tier", "current_tier", COLUMN_PLAIN},
    {"Next Tier", "next_tier", COLUMN_PLAIN},
    {"Points Req For Next Tier", "points_req_for_next_tier", COLUMN_PLAIN},
    {"Tier Achieve Date", "tier_achieve_date", COLUMN_PLAIN},
    {"Available Rewards", "available_rewards", COLUMN_LIST},
    {"Points Req For Next Reward", "points_req_for_next_reward", COLUMN_PLAIN},
    {"Highest Available Reward", "highest_available_reward", COLUMN_PLAIN},
    {"First Loyalty Activity Date", "first_activity_date", COLUMN_PLAIN},
    {"Last Loyalty Activity Date", "last_activity_date", COLUMN_PLAIN},
    {"First Purchase Date", "first_purchase_date", COLUMN_PLAIN},
    {"Last Purchase Date", "last_purchase_date", COLUMN_PLAIN},
    {"Segments", "segments", COLUMN_LIST},
    {"Opt-out Date", "opt_out_date", COLUMN_PLAIN},
    {"Updated At", "as_of", COLUMN_TIMESTAMP},
};
#define COLUMN_COUNT (sizeof COLUMNS / sizeof COLUMNS[0])

/* Write text as one CSV field: quoted (quotes doubled) when it holds a comma, quote, CR or LF. */
static void write_field(FILE *out, const char *text)
{
    if (strpbrk(text, ",\"\r\n") == NULL) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

/* Render one value (absent or null: empty) into a malloc'd string; caller frees. */
static char *render_value(const json_t *value, column_kind kind)
{
    char buf[64];
    time_t t;
    if (!value || json_is_null(value))
        return strdup("");
    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        if (kind == COLUMN_UPPER_ENUM && (!strcmp(text, "yes") || !strcmp(text, "no") ||
                                         !strcmp(text, "active") || !strcmp(text, "inactive"))) {
            size_t i = 0;
            for (; text[i] && i + 1 < sizeof buf; i++)
                buf[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
            buf[i] = '\0';
            return strdup(buf);
        }
        if (kind == COLUMN_TIMESTAMP && strlen(text) > 10 && annex_time_parse(text, &t) == 0)
            return strdup(annex_time_format(t, buf, sizeof buf));
        return strdup(text);
    }
    if (json_is_array(value)) { /* joined with " | " */
        size_t i, total = 1;
        json_t *item;
        json_array_foreach(value, i, item)
            total += (json_is_string(item) ? strlen(json_string_value(item)) : 0) + 3;
        char *joined = calloc(1, total);
        size_t used = 0;
        if (!joined)
            return NULL;
        json_array_foreach(value, i, item) {
            const char *text = json_is_string(item) ? json_string_value(item) : "";
            size_t len = strlen(text);
            if (i > 0) {
                memcpy(joined + used, " | ", 3);
                used += 3;
            }
            memcpy(joined + used, text, len);
            used += len;
        }
        joined[used] = '\0';
        return joined;
    }
    return json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int write_row(void *user, const json_t *record)
{
    FILE *out = user;
    for (size_t c = 0; c < COLUMN_COUNT; c++) {
        char *text = render_value(json_object_get(record, COLUMNS[c].field), COLUMNS[c].kind);
        if (!text)
            return -1;
        if (c > 0)
            fputc(',', out);
        write_field(out, text);
        free(text);
    }
    fputs("\r\n", out);
    return ferror(out) ? -1 : 0;
}

typedef struct row_counter {
    FILE *out;
    size_t rows;
} row_counter;

static int count_and_write_row(void *user, const json_t *record)
{
    row_counter *counter = user;
    counter->rows++;
    return write_row(counter->out, record);
}

int annex_feed_write(const annex_model *model, const char *dir, unsigned long long *since_seq,
                     char *path_out, size_t path_len, size_t *rows, char *err, size_t err_len)
{
    int result = -1;
    char temp_path[4096];
    FILE *out = NULL;
    struct stat st;
    time_t stamp = annex_model_clock(model);

    /* the file name is the emulator clock; while taken, one second later */
    for (int tries = 0; tries < 100000; tries++, stamp++) {
        struct tm tm;
        char name[64];
        gmtime_r(&stamp, &tm);
        strftime(name, sizeof name, "loyalty_export_%Y%m%d_%H%M%S.csv", &tm);
        snprintf(path_out, path_len, "%s/%s", dir, name);
        if (stat(path_out, &st) != 0)
            break;
    }
    snprintf(temp_path, sizeof temp_path, "%s/.loyalty_export.%ld.tmp", dir, (long)getpid());
    out = fopen(temp_path, "w");
    if (!out) {
        snprintf(err, err_len, "%s: %s", temp_path, strerror(errno));
        goto out;
    }
    for (size_t c = 0; c < COLUMN_COUNT; c++) {
        if (c > 0)
            fputc(',', out);
        write_field(out, COLUMNS[c].header);
    }
    fputs("\r\n", out);
    row_counter counter = {out, 0};
    int visit_rc = 0;
    unsigned long long seq = annex_model_visit_changed(model, *since_seq, count_and_write_row, &counter, &visit_rc);
    if (visit_rc != 0 || fflush(out) != 0 || fsync(fileno(out)) != 0) {
        snprintf(err, err_len, "%s: write failed: %s", temp_path, strerror(errno));
        goto out;
    }
    if (fclose(out) != 0) {
        out = NULL;
        snprintf(err, err_len, "%s: close failed: %s", temp_path, strerror(errno));
        goto out;
    }
    out = NULL;
    if (rename(temp_path, path_out) != 0) {
        snprintf(err, err_len, "rename %s -> %s: %s", temp_path, path_out, strerror(errno));
        goto out;
    }
    *since_seq = seq;
    *rows = counter.rows;
    result = 0;
out:
    if (out)
        fclose(out);
    if (result != 0)
        unlink(temp_path);
    return result;
}
