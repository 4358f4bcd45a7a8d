/* file_source.c: the file-source plugin: JSON lines from a file or stdin,
 * one record a line, checkpointed by byte offset. A line that is not a
 * JSON object is parked in the dead-letter queue as {"raw": LINE} with the
 * reason "PATH:LINE: what is wrong". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sluice/plugin.h>

#include "util/dynbuf.h"

typedef struct file_source {
    char *path;        /* as configured; "-" is stdin */
    int follow;        /* at EOF wait for more lines instead of ending */
    int is_stdin;
    FILE *in;
    off_t offset;      /* byte offset after the last line emitted */
    long line_no;      /* number of the last line emitted (1-based) */
    char *line;        /* getline buffer */
    size_t line_cap;
    /* stdin cannot seek: the bytes read since the last committed
     * checkpoint are kept here so a rewind can emit them again. */
    dynbuf kept;       /* stdin bytes since the last committed checkpoint */
    off_t kept_base;   /* stream offset of kept.data[0] */
    size_t reread_pos; /* next byte of kept to emit again (== kept.len: none) */
} file_source;

static const sluice_option file_source_options[] = {
    { "path", SLUICE_OPT_STRING, NULL, 1, 0, "file of JSON lines to read; \"-\" reads stdin",
      .kind = SLUICE_KIND_PATH },
    { "follow", SLUICE_OPT_BOOL, "false", 0, 0,
      "at end of file wait for more lines (tail -f) instead of ending" },
    SLUICE_OPTION_END
};

/* Free the instance. */
static void file_source_fini(sluice_ctx *ctx, void *state)
{
    file_source *src = state;
    if (!src)
        return;
    if (src->in && !src->is_stdin)
        fclose(src->in);
    free(src->path);
    free(src->line);
    dynbuf_free(&src->kept);
    free(src);
}

/* Offset and line number stored in a checkpoint ({"offset":N,"line":L}).
 * Returns 0, or -1 when the checkpoint is malformed. NULL means start. */
static int checkpoint_position(const json_t *checkpoint, off_t *offset, long *line_no)
{
    *offset = 0;
    *line_no = 0;
    if (!checkpoint)
        return 0;
    json_t *off = json_object_get(checkpoint, "offset");
    json_t *line = json_object_get(checkpoint, "line");
    if (!json_is_integer(off) || json_integer_value(off) < 0)
        return -1;
    *offset = (off_t)json_integer_value(off);
    *line_no = json_is_integer(line) ? (long)json_integer_value(line) : -1;
    return 0;
}

/* Count the lines before `offset` in the file (for checkpoints written
 * without a line number). Returns the count or -1. */
static long count_lines_before(FILE *in, off_t offset)
{
    long lines = 0;
    off_t pos = 0;
    int c;
    if (fseeko(in, 0, SEEK_SET) != 0)
        return -1;
    while (pos < offset && (c = getc(in)) != EOF) {
        pos++;
        if (c == '\n')
            lines++;
    }
    return lines;
}

/* Position the reader right after checkpoint. Returns SLUICE_OK or
 * SLUICE_FATAL after sluice_fail(). */
static sluice_status seek_to(sluice_ctx *ctx, file_source *src, const json_t *checkpoint)
{
    off_t offset;
    long line_no;
    if (checkpoint_position(checkpoint, &offset, &line_no) != 0) {
        sluice_fail(ctx, "%s: checkpoint has no valid \"offset\"", src->path);
        return SLUICE_FATAL;
    }
    if (src->is_stdin) {
        if (offset < src->kept_base || offset > src->kept_base + (off_t)src->kept.len) {
            sluice_fail(ctx, "stdin cannot be rewound to byte %lld (kept bytes %lld-%lld)",
                        (long long)offset, (long long)src->kept_base,
                        (long long)(src->kept_base + (off_t)src->kept.len));
            return SLUICE_FATAL;
        }
        src->reread_pos = (size_t)(offset - src->kept_base);
        src->offset = offset;
        src->line_no = line_no >= 0 ? line_no : src->line_no;
        return SLUICE_OK;
    }
    if (line_no < 0 && (line_no = count_lines_before(src->in, offset)) < 0) {
        sluice_fail(ctx, "%s: cannot read: %s", src->path, strerror(errno));
        return SLUICE_FATAL;
    }
    if (fseeko(src->in, offset, SEEK_SET) != 0) {
        sluice_fail(ctx, "%s: cannot seek to byte %lld: %s", src->path, (long long)offset,
                    strerror(errno));
        return SLUICE_FATAL;
    }
    clearerr(src->in);
    src->offset = offset;
    src->line_no = line_no;
    return SLUICE_OK;
}

static sluice_status file_source_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    sluice_status status = SLUICE_FATAL;
    json_t *checkpoint = NULL;
    file_source *src = calloc(1, sizeof(*src));
    const char *path = json_string_value(json_object_get(config, "path"));
    if (!src) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    dynbuf_init(&src->kept, 0);
    /* The table refuses an empty path (sluice check, FILE:LINE); the guard
     * keeps init() safe without the core. */
    if (!path || !*path) {
        sluice_fail(ctx, "option 'path' is empty: a file name or \"-\"");
        goto out;
    }
    src->path = strdup(path);
    src->follow = json_is_true(json_object_get(config, "follow"));
    src->is_stdin = strcmp(path, "-") == 0;
    if (!src->path) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    src->in = src->is_stdin ? stdin : fopen(path, "r");
    if (!src->in) {
        sluice_fail(ctx, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    checkpoint = sluice_checkpoint_get(ctx);
    if (checkpoint && src->is_stdin) {
        /* a new stdin stream has nothing to do with an old offset */
        sluice_log(ctx, SLUICE_LOG_INFO, "reading stdin from its start (checkpoint ignored)");
    } else if (checkpoint && seek_to(ctx, src, checkpoint) != SLUICE_OK) {
        goto out;
    }
    *state = src;
    src = NULL;
    status = SLUICE_OK;
out:
    json_decref(checkpoint);
    file_source_fini(ctx, src);
    return status;
}

/* Append bytes read from stdin to the kept buffer. Returns 0 or -1. */
static int keep_bytes(file_source *src, const char *bytes, size_t len)
{
    if (dynbuf_append(&src->kept, bytes, len) != 0)
        return -1;
    src->reread_pos = src->kept.len;
    return 0;
}

/* Next line (with its newline, if any): *text points at it, in getline's
 * buffer src->line, or in src->kept when stdin bytes are emitted again
 * after a rewind (no copy); valid until the next call. Returns its length,
 * 0 at end of input (for now), or -1 on a read error (errno set). In follow
 * mode an unterminated last line is left for later: it may be half written. */
static ssize_t next_line(file_source *src, const char **text)
{
    if (src->is_stdin && src->reread_pos < src->kept.len) {
        const char *start = src->kept.data + src->reread_pos;
        size_t avail = src->kept.len - src->reread_pos;
        const char *newline = memchr(start, '\n', avail);
        size_t len = newline ? (size_t)(newline - start) + 1 : avail;
        *text = start;
        src->reread_pos += len;
        return (ssize_t)len;
    }
    errno = 0;
    ssize_t len = getline(&src->line, &src->line_cap, src->in);
    if (len < 0) {
        if (ferror(src->in))
            return -1;
        clearerr(src->in); /* so a follower sees lines appended later */
        return 0;
    }
    /* (On stdin getline only stops short of a newline at a real end of
     * stream, so the line is complete there.) */
    if (src->line[len - 1] != '\n' && src->follow && !src->is_stdin) {
        if (fseeko(src->in, src->offset, SEEK_SET) != 0)
            return -1;
        return 0;
    }
    if (src->is_stdin && keep_bytes(src, src->line, (size_t)len) != 0)
        return -1;
    *text = src->line; /* getline may have moved it */
    return len;
}

/* Append one line to the batch as JSON text, unparsed: the core parses it
 * when a stage first needs the record, and rejects it to the dead-letter
 * queue as {"raw": line} with "PATH:LINE: invalid JSON ..." if it is not a
 * JSON object. Returns 0 or -1 (out of memory). */
static int emit_line(file_source *src, sluice_batch *out, const char *line, size_t len)
{
    char origin[512];
    snprintf(origin, sizeof(origin), "%s:%ld", src->path, src->line_no);
    return sluice_batch_append_text(out, line, len, origin);
}

static sluice_status file_source_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    file_source *src = state;
    size_t capacity = sluice_batch_capacity(out);
    size_t appended = 0;
    if (capacity == 0)
        capacity = 500;
    while (appended < capacity) {
        const char *line = NULL;
        ssize_t len = next_line(src, &line);
        if (len < 0) {
            sluice_fail(ctx, "cannot read %s: %s", src->path, strerror(errno));
            return SLUICE_FATAL;
        }
        if (len == 0)
            break;
        src->offset += len;
        src->line_no++;
        size_t text_len = (size_t)len;
        while (text_len > 0 && (line[text_len - 1] == '\n' || line[text_len - 1] == '\r'))
            text_len--;
        size_t first = 0;
        if (src->offset == len && text_len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            first = 3; /* a UTF-8 byte order mark opening the file */
        while (first < text_len && (line[first] == ' ' || line[first] == '\t'))
            first++;
        if (first == text_len)
            continue; /* blank lines carry nothing */
        if (emit_line(src, out, line + first, text_len - first) != 0) {
            sluice_fail(ctx, "out of memory");
            return SLUICE_FATAL;
        }
        appended++;
    }
    if (appended == 0)
        return src->follow ? SLUICE_AGAIN : SLUICE_EOF;
    sluice_batch_set_checkpoint(out, json_pack("{s:I,s:I}", "offset", (json_int_t)src->offset,
                                               "line", (json_int_t)src->line_no));
    return SLUICE_OK;
}

static sluice_status file_source_rewind(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    return seek_to(ctx, state, checkpoint);
}

static void file_source_committed(sluice_ctx *ctx, void *state, const json_t *checkpoint)
{
    file_source *src = state;
    off_t offset;
    long line_no;
    if (!src->is_stdin || checkpoint_position(checkpoint, &offset, &line_no) != 0)
        return;
    /* stdin: the bytes before the committed offset are never needed again */
    if (offset <= src->kept_base || offset > src->kept_base + (off_t)src->kept.len)
        return;
    size_t drop = (size_t)(offset - src->kept_base);
    memmove(src->kept.data, src->kept.data + drop, src->kept.len - drop);
    src->kept.len -= drop;
    src->reread_pos = src->reread_pos > drop ? src->reread_pos - drop : 0;
    src->kept_base = offset;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "file-source",
    .role = SLUICE_ROLE_SOURCE,
    .version = "1.0.0",
    .description = "JSON lines from a file or stdin, checkpointed by byte offset",
    .options = file_source_options,
    .init = file_source_init,
    .fini = file_source_fini,
    .poll = file_source_poll,
    .rewind = file_source_rewind,
    .committed = file_source_committed,
};
