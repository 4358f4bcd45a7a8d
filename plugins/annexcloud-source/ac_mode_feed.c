/* ac_mode_feed.c: annexcloud-source feed mode: Annex Cloud Data Feed
 * export files (CSV) from a local directory, sftp:// or s3://, each
 * processed once, in name order (exports are named by time). The position
 * {"file","offset","line","complete"} is the byte offset after the last
 * emitted row, so a restart resumes mid-file. A malformed row (or one
 * with a cell that is not text in the file's `encoding`) is parked in the
 * dead-letter queue with FILE:LINE, the reason and its raw text; the rest
 * of the file goes on. A remote file is downloaded whole into a spool
 * directory under the state dir (ac_feed_remote.c) and read from there
 * like a local one; it is deleted once read, and fetched again only if a
 * restart goes back into it. A file whose name also matches
 * feed_deletions_pattern is a deletions file: each row (its Loyalty Id,
 * and Email Address and Updated At when present) is an erase record
 * (ac_erase.h), never a member. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ac_convert.h"
#include "ac_erase.h"
#include "ac_csv.h"
#include "ac_csv_text.h"
#include "ac_feed_remote.h"
#include "ac_source.h"

typedef enum { F_STRING, F_LOWER, F_INT, F_DATE, F_TIMESTAMP, F_LIST, F_NULLABLE } field_kind;

/* The export's default columns: the seed document's attribute names. */
static const struct {
    const char *field;
    const char *header;
    field_kind kind;
} default_columns[] = {
    {"loyalty_id", "Loyalty Id", F_STRING},
    {"first_name", "First Name", F_STRING},
    {"last_name", "Last Name", F_STRING},
    {"email", "Email Address", F_LOWER},
    {"active_status", "Active Status", F_LOWER},
    {"birthday", "Birthday", F_DATE},
    {"anniversary_date", "Loyalty anniversary date", F_DATE},
    {"phone", "Phone No", F_STRING},
    {"zip_code", "Zip Code", F_STRING},
    {"opt_in_status", "Opt-in Status", F_LOWER},
    {"opt_in_date", "Opt-in Date", F_TIMESTAMP},
    {"available_points", "Available Points", F_INT},
    {"earned_points", "Earned Points", F_INT},
    {"used_points", "Used Points", F_INT},
    {"hold_points", "Hold Points", F_INT},
    {"next_expiring_points", "Next Expiring Points", F_INT},
    {"points_expiration_date", "Points Expiration Date", F_DATE},
    {"expired_points", "Expired Points", F_INT},
    {"current_tier", "Current Tier", F_STRING},
    {"next_tier", "Next Tier", F_NULLABLE},
    {"points_req_for_next_tier", "Points Req For Next Tier", F_INT},
    {"tier_achieve_date", "Tier Achieve Date", F_DATE},
    {"available_rewards", "Available Rewards", F_LIST},
    {"points_req_for_next_reward", "Points Req For Next Reward", F_INT},
    {"highest_available_reward", "Highest Available Reward", F_NULLABLE},
    {"first_activity_date", "First Loyalty Activity Date", F_DATE},
    {"last_activity_date", "Last Loyalty Activity Date", F_DATE},
    {"first_purchase_date", "First Purchase Date", F_DATE},
    {"last_purchase_date", "Last Purchase Date", F_DATE},
    {"segments", "Segments", F_LIST},
    {"opt_out_date", "Opt-out Date", F_DATE},
    {"as_of", "Updated At", F_TIMESTAMP},
};
#define COLUMN_COUNT (sizeof(default_columns) / sizeof(default_columns[0]))
#define LIST_SEPARATOR " | "

typedef struct feed_mode {
    char *dir;                /* the directory read: the location, or the spool of a remote one */
    char *pattern;
    ac_feed_remote *remote;   /* NULL: a local directory */
    char **listing;           /* remote: sorted names from the last listing */
    size_t listing_count;
    int listed;               /* remote: listing holds a listing */
    double listed_at;         /* remote: monotonic seconds of that listing */
    long list_interval_s;     /* remote: seconds between listings (not --once) */
    const json_t *overrides;  /* canonical field -> header (borrowed) */
    char *file;               /* current file name (in dir), or NULL */
    long offset, line;        /* position in the current file */
    double size;              /* its size in bytes when opened (0: unknown) */
    int complete;             /* the current file is done */
    ac_csv_reader *reader;
    ac_text_decoder *decoder; /* cells from the `encoding` option to UTF-8 */
    int *column_of;           /* header index -> default_columns index, -1 unknown */
    size_t header_count;
    const char *deletions;    /* feed_deletions_pattern (borrowed), or NULL */
    int is_deletions;         /* the current file is a deletions file (ac_erase.h) */
} feed_mode;

/* Header expected for canonical field i (override or default). */
static const char *header_for(const feed_mode *mode, size_t i)
{
    const char *override = json_string_value(json_object_get(mode->overrides, default_columns[i].field));
    return override ? override : default_columns[i].header;
}

/* Set a canonical value from the UTF-8 text of a cell per the column kind.
 * Returns 0, or -1 when out of memory (the value is not set). */
static int put_value(json_t *record, const char *field, field_kind kind, const char *text)
{
    char buf[64];

    /* An empty cell is how the export writes null (or absent): "known to
     * be empty" for every kind, strings included ("" is no phone number). */
    if (*text == '\0')
        return json_object_set_new(record, field, kind == F_LIST ? json_array() : json_null());
    switch (kind) {
    case F_STRING:
    case F_NULLABLE:
        return json_object_set_new(record, field, json_string(text));
    case F_LOWER: {
        size_t i, len = strlen(text);
        char *lower = malloc(len + 1);
        int result;
        if (!lower)
            return -1;
        for (i = 0; i < len; i++)
            lower[i] = (char)((text[i] >= 'A' && text[i] <= 'Z') ? text[i] + 32 : text[i]);
        lower[len] = '\0';
        result = json_object_set_new(record, field, json_string(lower));
        free(lower);
        return result;
    }
    case F_INT: {
        char *end = NULL;
        long long value;
        errno = 0;
        value = strtoll(text, &end, 10);
        if (errno == 0 && end != text && *end == '\0')
            return json_object_set_new(record, field, json_integer((json_int_t)value));
        return json_object_set_new(record, field, json_string(text)); /* the transforms reject it */
    }
    case F_DATE:
        return json_object_set_new(record, field, json_string(ac_date_canonical(text, buf) == 0 ? buf : text));
    case F_TIMESTAMP:
        return json_object_set_new(record, field, json_string(ac_timestamp_canonical(text, buf) == 0 ? buf : text));
    case F_LIST: {
        json_t *list = json_array();
        const char *p = text;
        while (list && p) {
            const char *sep = strstr(p, LIST_SEPARATOR);
            size_t len = sep ? (size_t)(sep - p) : strlen(p);
            if (json_array_append_new(list, json_stringn(p, len)) != 0) {
                json_decref(list);
                return -1;
            }
            p = sep ? sep + strlen(LIST_SEPARATOR) : NULL;
        }
        return json_object_set_new(record, field, list);
    }
    }
    return -1;
}

/* Close the current file's reader and forget its header. */
static void close_file(feed_mode *mode)
{
    ac_csv_close(&mode->reader);
    free(mode->column_of);
    mode->column_of = NULL;
    mode->header_count = 0;
}

/* Path of `name` in the feed directory into buf. */
static void file_path(const feed_mode *mode, const char *name, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s/%s", mode->dir, name);
}

/* Open the current file at the saved position, reading its header first.
 * Returns 0, or -1 with the reason in err (the file cannot be used). */
static int open_file(feed_mode *mode, char *err, size_t errlen)
{
    char path[4096];
    ac_csv_reader *header_reader;
    ac_csv_row row;
    int got;
    struct stat st;

    file_path(mode, mode->file, path, sizeof(path));
    header_reader = ac_csv_open(path, 0, 1, err, errlen);
    if (!header_reader)
        return -1;
    got = ac_csv_next(header_reader, &row, err, errlen);
    if (got != 1 || row.error) {
        if (got == 1)
            snprintf(err, errlen, "%s:%ld: bad header row: %s", mode->file, row.line, row.error);
        else if (got == 0)
            snprintf(err, errlen, "%s: empty file (no header row)", mode->file);
        ac_csv_close(&header_reader);
        return -1;
    }
    mode->column_of = malloc(row.count * sizeof(int));
    mode->header_count = row.count;
    if (!mode->column_of) {
        ac_csv_close(&header_reader);
        return -1;
    }
    for (size_t h = 0; h < row.count; h++) {
        char *name = NULL, why[200];
        /* A header cell the encoding cannot decode matches no column. */
        const char *header =
            ac_text_decode(mode->decoder, row.fields[h], row.lengths[h], &name, why, sizeof(why)) == 0 ? name : "";
        mode->column_of[h] = -1;
        for (size_t i = 0; i < COLUMN_COUNT && *header; i++) {
            if (strcasecmp(header, header_for(mode, i)) == 0) {
                mode->column_of[h] = (int)i;
                break;
            }
        }
        free(name);
    }
    if (mode->offset < row.end_offset) {
        mode->offset = row.end_offset;
        mode->line = row.end_line + 1;
    }
    ac_csv_close(&header_reader);
    {
        int has_id = 0;
        for (size_t h = 0; h < mode->header_count; h++)
            has_id |= mode->column_of[h] == 0;
        if (!has_id) {
            snprintf(err, errlen, "%s: no '%s' column in the header", mode->file, header_for(mode, 0));
            return -1;
        }
    }
    mode->is_deletions = mode->deletions && fnmatch(mode->deletions, mode->file, 0) == 0;
    mode->reader = ac_csv_open(path, mode->offset, mode->line, err, errlen);
    mode->size = mode->reader && stat(path, &st) == 0 ? (double)st.st_size : 0;
    return mode->reader ? 0 : -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first file in name order after `after` (NULL = the first) that
 * matches the pattern, as a new string; NULL if none. */
static char *local_next_file(const feed_mode *mode, const char *after)
{
    DIR *dir = opendir(mode->dir);
    struct dirent *entry;
    char **names = NULL, *found = NULL;
    size_t count = 0, cap = 0;

    if (!dir)
        return NULL;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.' || fnmatch(mode->pattern, entry->d_name, 0) != 0)
            continue;
        if (after && strcmp(entry->d_name, after) <= 0)
            continue;
        if (count == cap) {
            size_t grown_cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, grown_cap * sizeof(*grown));
            if (!grown)
                break;
            names = grown;
            cap = grown_cap;
        }
        names[count] = strdup(entry->d_name);
        if (names[count])
            count++;
    }
    closedir(dir);
    if (count) {
        qsort(names, count, sizeof(*names), name_cmp);
        found = names[0];
        for (size_t i = 1; i < count; i++)
            free(names[i]);
    }
    free(names);
    return found;
}

static double monotonic_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A remote failure as the status poll returns: FATAL (after sluice_fail)
 * for what needs a person, RETRY (logged) for what may pass. */
static sluice_status remote_failure(ac_source *src, ac_remote_result result, const char *err)
{
    if (result == AC_REMOTE_FATAL) {
        sluice_fail(src->ctx, "%s", err);
        return SLUICE_FATAL;
    }
    sluice_log(src->ctx, SLUICE_LOG_WARN, "%s; retrying", err);
    return SLUICE_RETRY;
}

static int name_in_sorted(char **sorted, size_t count, const char *name)
{
    return count > 0 && bsearch(&name, sorted, count, sizeof(*sorted), name_cmp) != NULL;
}

/* Files read in name order never go back: say so when a new listing shows
 * files that were not there before and sort before `after` (they will
 * never be read), instead of passing them over in silence. */
static void warn_passed_files(ac_source *src, const feed_mode *mode, const char *after, char **names, size_t count)
{
    size_t passed = 0;
    const char *example = NULL;

    for (size_t i = 0; i < count && strcmp(names[i], after) < 0; i++) {
        if (!name_in_sorted(mode->listing, mode->listing_count, names[i])) {
            passed++;
            example = names[i];
        }
    }
    if (passed > 0) {
        sluice_log(src->ctx, SLUICE_LOG_WARN,
                   "%s: %zu new file(s) sort before %s, which is already read, and will not be read (e.g. %s): "
                   "exports are read in name order",
                   ac_feed_remote_name(mode->remote), passed, after, example);
        sluice_metric_add(src->ctx, "feed_files_passed_over", (double)passed);
    }
}

/* The next file after `after` into *found (new string, NULL if none).
 * A remote location is listed again when the last listing is used up and
 * older than list_interval_s (under --once: once per start). Returns
 * SLUICE_OK, or RETRY/FATAL when the listing failed. */
static sluice_status next_file(ac_source *src, feed_mode *mode, const char *after, char **found)
{
    *found = NULL;
    if (!mode->remote) {
        *found = local_next_file(mode, after);
        return SLUICE_OK;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        char **names = NULL, err[1024];
        size_t count = 0;
        double now;
        ac_remote_result result;

        /* The listing is sorted: binary search for the first name > after. */
        size_t low = 0, high = mode->listing_count;
        while (after && low < high) {
            size_t middle = low + (high - low) / 2;
            if (strcmp(mode->listing[middle], after) > 0)
                high = middle;
            else
                low = middle + 1;
        }
        if (low < mode->listing_count) {
            *found = strdup(mode->listing[low]);
            return *found ? SLUICE_OK : SLUICE_RETRY;
        }
        now = monotonic_seconds();
        if (attempt > 0 ||
            (mode->listed && (sluice_run_once(src->ctx) || now - mode->listed_at < (double)mode->list_interval_s)))
            break;
        result = ac_feed_remote_list(mode->remote, mode->pattern, &names, &count, err, sizeof(err));
        if (result != AC_REMOTE_OK)
            return remote_failure(src, result, err);
        if (mode->listed && after)
            warn_passed_files(src, mode, after, names, count);
        ac_feed_names_free(mode->listing, mode->listing_count);
        mode->listing = names;
        mode->listing_count = count;
        mode->listed = 1;
        mode->listed_at = now;
        sluice_log(src->ctx, SLUICE_LOG_DEBUG, "%s: %zu export files listed", ac_feed_remote_name(mode->remote), count);
    }
    return SLUICE_OK;
}

/* Make sure the current remote file is in the spool. Returns SLUICE_OK,
 * SLUICE_EOF when the file is gone (logged; skip it), RETRY or FATAL. */
static sluice_status fetch_current(ac_source *src, feed_mode *mode)
{
    char path[4096], err[1024];
    ac_remote_result result;

    file_path(mode, mode->file, path, sizeof(path));
    if (!mode->remote || access(path, R_OK) == 0)
        return SLUICE_OK;
    result = ac_feed_remote_fetch(mode->remote, mode->file, path, err, sizeof(err));
    if (result == AC_REMOTE_OK) {
        sluice_metric_add(src->ctx, "feed_files_fetched", 1);
        sluice_log(src->ctx, SLUICE_LOG_INFO, "fetched %s%s", ac_feed_remote_name(mode->remote), mode->file);
        return SLUICE_OK;
    }
    if (result == AC_REMOTE_GONE) {
        sluice_log(src->ctx, SLUICE_LOG_ERROR, "feed file skipped: %s", err);
        sluice_metric_add(src->ctx, "feed_files_skipped", 1);
        return SLUICE_EOF;
    }
    return remote_failure(src, result, err);
}

/* A remote file's spool copy is deleted once the file is done. */
static void drop_spool_copy(const feed_mode *mode)
{
    char path[4096];

    if (!mode->remote || !mode->file)
        return;
    file_path(mode, mode->file, path, sizeof(path));
    unlink(path);
}

/* Create the spool directory <state_dir>/feed-spool-<stage> and delete
 * what a previous run left there that the checkpoint no longer needs:
 * partial downloads and files before the checkpoint's file. Returns 0
 * or -1 (after sluice_fail). */
static int prepare_spool(ac_source *src, feed_mode *mode)
{
    const char *state_dir = sluice_state_dir(src->ctx);
    char dir[4096];
    DIR *listing;
    struct dirent *entry;

    if (!state_dir ||
        snprintf(dir, sizeof(dir), "%s/feed-spool-%s", state_dir, sluice_stage_name(src->ctx)) >= (int)sizeof(dir)) {
        sluice_fail(src->ctx, "no usable state directory for the feed spool");
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sluice_fail(src->ctx, "cannot create the feed spool %s: %s", dir, strerror(errno));
        return -1;
    }
    mode->dir = strdup(dir);
    if (!mode->dir)
        return -1;
    listing = opendir(dir);
    if (!listing) {
        sluice_fail(src->ctx, "cannot read the feed spool %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((entry = readdir(listing)) != NULL) {
        size_t len = strlen(entry->d_name);
        int partial = len > 5 && strcmp(entry->d_name + len - 5, ".part") == 0;
        int done = !mode->file || strcmp(entry->d_name, mode->file) < 0 ||
                   (strcmp(entry->d_name, mode->file) == 0 && mode->complete);
        char path[4096];
        if (entry->d_name[0] == '.' || (!partial && !done))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name) < (int)sizeof(path))
            unlink(path);
    }
    closedir(listing);
    return 0;
}

static json_t *position_of(const feed_mode *mode)
{
    return json_pack("{s:s?, s:I, s:I, s:b}", "file", mode->file, "offset", (json_int_t)mode->offset,
                     "line", (json_int_t)mode->line, "complete", mode->complete);
}

/* The `len` bytes of `text` for a dead-letter record: a string when they
 * are UTF-8 without NUL, else {"escaped": their ac_text_escape form}
 * (exact and printable; a NUL inside a string is refused by JSON readers
 * such as the DLQ's own). New reference, NULL when out of memory. */
static json_t *dead_letter_text(const char *text, size_t len)
{
    json_t *value;
    char *escaped;

    if (!memchr(text, '\0', len) && ac_text_is_utf8(text, len, NULL))
        return json_stringn(text, len);
    escaped = ac_text_escape(text, len);
    value = escaped ? json_pack("{s:s}", "escaped", escaped) : NULL;
    free(escaped);
    return value;
}

/* A cell for a dead-letter record: its text decoded per `encoding`, else
 * dead_letter_text of its bytes. New reference, NULL when out of memory. */
static json_t *dead_letter_cell(const feed_mode *mode, const char *cell, size_t len)
{
    char *text = NULL, why[200];
    json_t *value;

    if (ac_text_decode(mode->decoder, cell, len, &text, why, sizeof(why)) != 0)
        return dead_letter_text(cell, len);
    value = json_string(text);
    free(text);
    return value;
}

/* Append `row` to `out` as a dead-letter record and reject it with
 * "FILE:LINE: why". The record keeps all the row had, for a person to
 * read: {"kind": "feed_row", "file", "line", "end_line", "raw": the row's
 * text as in the file when it is UTF-8 without NUL, else {"escaped": the
 * text with NUL and other bytes as \xHH and backslashes doubled}, "raw_truncated": true when
 * the text was cut at AC_CSV_MAX_ROW bytes, and for a row that parsed
 * "fields": its cells, decoded per `encoding` or as "raw" is}.
 * Returns 0, or -1 when out of memory (nothing appended). */
static int reject_row(feed_mode *mode, sluice_batch *out, const ac_csv_row *row, const char *why)
{
    json_t *record = json_pack("{s:s, s:s, s:I, s:I, s:o}", "kind", "feed_row", "file", mode->file, "line",
                               (json_int_t)row->line, "end_line", (json_int_t)row->end_line, "raw",
                               dead_letter_text(row->raw, row->raw_len));
    json_t *fields = NULL;
    char reason[600];
    int result = -1;

    if (!record || (row->raw_truncated && json_object_set_new(record, "raw_truncated", json_true()) != 0))
        goto out;
    if (row->count > 0) {
        fields = json_array();
        if (json_object_set_new(record, "fields", fields) != 0)
            goto out;
        for (size_t i = 0; i < row->count; i++) {
            if (json_array_append_new(fields, dead_letter_cell(mode, row->fields[i], row->lengths[i])) != 0)
                goto out;
        }
    }
    if (sluice_batch_append(out, record) != 0) {
        record = NULL; /* freed by the append */
        goto out;
    }
    record = NULL;
    snprintf(reason, sizeof(reason), "%s:%ld: %s", mode->file, row->line, why);
    sluice_batch_reject(out, sluice_batch_count(out) - 1, reason);
    result = 0;
out:
    json_decref(record);
    return result;
}

/* Append one row to `out`: a member record, or a dead-letter record when
 * the row is malformed, has another number of cells than the header, a
 * cell of a known column that is not text in the file's encoding (or
 * holds a NUL byte), or no Loyalty Id. Returns 0, or -1 when out of
 * memory (nothing appended). */
static int take_row(ac_source *src, feed_mode *mode, sluice_batch *out, const ac_csv_row *row)
{
    json_t *record = NULL;
    char why[600];
    int result = -1;

    if (row->error)
        return reject_row(mode, out, row, row->error);
    if (row->count != mode->header_count) {
        snprintf(why, sizeof(why), "%zu columns, the header has %zu", row->count, mode->header_count);
        return reject_row(mode, out, row, why);
    }
    record = json_pack("{s:s}", "kind", "member");
    if (!record)
        goto out;
    for (size_t h = 0; h < row->count; h++) {
        int column = mode->column_of[h], decoded;
        char *text = NULL, problem[200];

        if (column < 0)
            continue;
        decoded = ac_text_decode(mode->decoder, row->fields[h], row->lengths[h], &text, problem, sizeof(problem));
        if (decoded == 1) {
            /* Never a record without the field: the row waits in the DLQ. */
            snprintf(why, sizeof(why), "column '%s' %s", header_for(mode, (size_t)column), problem);
            result = reject_row(mode, out, row, why);
            goto out;
        }
        if (decoded < 0 || put_value(record, default_columns[column].field, default_columns[column].kind, text) != 0) {
            free(text);
            goto out;
        }
        free(text);
    }
    if (!json_string_length(json_object_get(record, "loyalty_id"))) {
        result = reject_row(mode, out, row, "empty Loyalty Id");
        goto out;
    }
    if (!json_object_get(record, "as_of")) {
        char now[21];
        ac_now_canonical(now);
        if (json_object_set_new(record, "as_of", json_string(now)) != 0)
            goto out;
    }
    if (mode->is_deletions) {
        /* a row of a deletions file asks to erase the member */
        result = sluice_batch_append(out, ac_erase_from_row(record)) == 0 ? 0 : -1;
        goto out;
    }
    ac_emit_member(src, out, record);
    record = NULL;
    result = 0;
out:
    json_decref(record);
    return result;
}

static sluice_status feed_start(ac_source *src, const json_t *checkpoint, void **state)
{
    feed_mode *mode = calloc(1, sizeof(*mode));
    const char *dir = ac_opt_string(src, "feed_dir");
    const char *location = ac_opt_string(src, "feed_location");
    const char *file = json_string_value(json_object_get(checkpoint, "file"));
    char err[1024];
    struct stat st;

    if (!mode)
        return SLUICE_FATAL;
    *state = mode;
    if (dir && *dir && location && *location) {
        sluice_fail(src->ctx, "set feed_location or feed_dir, not both");
        return SLUICE_FATAL;
    }
    mode->decoder = ac_text_decoder_new(ac_opt_string(src, "encoding"), err, sizeof(err));
    if (!mode->decoder) {
        sluice_fail(src->ctx, "%s", err);
        return SLUICE_FATAL;
    }
    mode->pattern = strdup(ac_opt_string(src, "feed_pattern") ? ac_opt_string(src, "feed_pattern") : "*.csv");
    mode->overrides = json_object_get(src->config, "columns");
    mode->deletions = ac_opt_string(src, "feed_deletions_pattern");
    mode->file = file ? strdup(file) : NULL;
    mode->offset = (long)json_integer_value(json_object_get(checkpoint, "offset"));
    mode->line = (long)json_integer_value(json_object_get(checkpoint, "line"));
    mode->complete = json_is_true(json_object_get(checkpoint, "complete"));
    if (!mode->pattern || (file && !mode->file))
        return SLUICE_FATAL;
    if (ac_feed_is_remote(location)) {
        ac_feed_remote_options options = {
            .location = location,
            .ssh_key = ac_opt_string(src, "feed_ssh_key"),
            .ssh_key_passphrase = ac_opt_string(src, "feed_ssh_passphrase"),
            .known_hosts = ac_opt_string(src, "feed_known_hosts"),
            .password = ac_opt_string(src, "feed_password"),
            .s3_region = ac_opt_string(src, "feed_s3_region"),
            .s3_endpoint = ac_opt_string(src, "feed_s3_endpoint"),
            .s3_access_key_id = ac_opt_string(src, "feed_s3_access_key_id"),
            .s3_secret_access_key = ac_opt_string(src, "feed_s3_secret_access_key"),
            .s3_session_token = ac_opt_string(src, "feed_s3_session_token"),
            .timeout_s = (long)ac_opt_int(src, "feed_timeout_s"),
        };

        /* both within their table ranges: checked before anything ran */
        mode->list_interval_s = (long)ac_opt_int(src, "feed_list_interval_s");
        mode->remote = ac_feed_remote_open(&options, err, sizeof(err));
        if (!mode->remote) {
            sluice_fail(src->ctx, "%s", err);
            return SLUICE_FATAL;
        }
        return prepare_spool(src, mode) == 0 ? SLUICE_OK : SLUICE_FATAL;
    }
    if (location && *location)
        dir = location;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sluice_fail(src->ctx, "%s '%s' is not a directory (nor sftp:// or s3://)",
                    location && *location ? "feed_location" : "feed_dir", dir ? dir : "(not set)");
        return SLUICE_FATAL;
    }
    mode->dir = strdup(dir);
    return mode->dir ? SLUICE_OK : SLUICE_FATAL;
}

static sluice_status feed_poll(ac_source *src, void *state, sluice_batch *out, json_t **position)
{
    feed_mode *mode = state;
    int moved = 0;
    char err[600];

    while (ac_room(src, out) > 0) {
        ac_csv_row row;
        int got;

        if (!mode->reader) {
            sluice_status fetched;
            if (!mode->file || mode->complete) {
                char *next = NULL;
                sluice_status listed = next_file(src, mode, mode->file, &next);
                if (listed != SLUICE_OK) {
                    /* Rows already taken go out first; the failure comes back next poll. */
                    if (sluice_batch_count(out) > 0 || moved)
                        break;
                    return listed;
                }
                if (!next)
                    break;
                free(mode->file);
                mode->file = next;
                mode->offset = 0;
                mode->line = 1;
                mode->complete = 0;
                moved = 1;
            }
            fetched = fetch_current(src, mode);
            if (fetched == SLUICE_EOF) {
                mode->complete = 1; /* gone from the remote: skipped, logged */
                moved = 1;
                continue;
            }
            if (fetched != SLUICE_OK) {
                if (sluice_batch_count(out) > 0 || moved)
                    break;
                return fetched;
            }
            if (open_file(mode, err, sizeof(err)) != 0) {
                /* A file that cannot be read at all is skipped loudly. */
                sluice_log(src->ctx, SLUICE_LOG_ERROR, "feed file skipped: %s", err);
                sluice_metric_add(src->ctx, "feed_files_skipped", 1);
                close_file(mode);
                drop_spool_copy(mode);
                mode->complete = 1;
                moved = 1;
                continue;
            }
        }
        got = ac_csv_next(mode->reader, &row, err, sizeof(err));
        if (got < 0) {
            sluice_log(src->ctx, SLUICE_LOG_WARN, "%s: %s; retrying", mode->file, err);
            close_file(mode);
            return SLUICE_RETRY;
        }
        if (got == 0) {
            sluice_log(src->ctx, SLUICE_LOG_INFO, "feed file %s done (%ld lines)", mode->file, mode->line - 1);
            close_file(mode);
            drop_spool_copy(mode);
            mode->complete = 1;
            moved = 1;
            continue;
        }
        if (take_row(src, mode, out, &row) != 0) {
            /* Out of memory: the row is read again from mode->offset;
             * rows already taken go out first. */
            close_file(mode);
            if (sluice_batch_count(out) > 0 || moved)
                break;
            sluice_log(src->ctx, SLUICE_LOG_WARN, "%s:%ld: out of memory; retrying", mode->file, mode->line);
            return SLUICE_RETRY;
        }
        mode->offset = row.end_offset;
        mode->line = row.end_line + 1;
        moved = 1;
    }
    if (moved)
        *position = position_of(mode);
    if (moved && mode->size > 0) /* bytes read of the current file */
        sluice_source_progress(src->ctx, (double)mode->offset, mode->size);
    if (sluice_batch_count(out) > 0 || moved)
        return SLUICE_OK;
    return sluice_run_once(src->ctx) ? SLUICE_EOF : SLUICE_AGAIN;
}

static void feed_stop(ac_source *src, void *state)
{
    feed_mode *mode = state;

    (void)src;
    if (!mode)
        return;
    close_file(mode);
    ac_text_decoder_free(&mode->decoder);
    ac_feed_remote_close(&mode->remote);
    ac_feed_names_free(mode->listing, mode->listing_count);
    free(mode->dir);
    free(mode->pattern);
    free(mode->file);
    free(mode);
}

const ac_mode_ops ac_mode_feed = {
    .name = "feed",
    .start = feed_start,
    .poll = feed_poll,
    .committed = NULL,
    .stop = feed_stop,
};
