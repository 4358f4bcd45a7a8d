/* file_sink.c: the file-sink plugin: appends each record as one compact
 * JSON line to a file or stdout; with sync = "batch" (the default) the
 * batch is fsync'ed before any record is reported DONE, so an
 * acknowledged batch is on disk. A batch is reported DONE only when all of
 * it was written (and synced); a write cut short or a failed fsync is cut
 * back off the file before the batch is written again, so a retry never
 * leaves half a line behind. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sluice/plugin.h>

#include "util/dynbuf.h"

typedef struct file_sink {
    char *path;  /* as configured; "-" is stdout */
    int is_stdout;
    int sync_batch; /* fsync once per batch before reporting DONE */
    FILE *out;   /* opened "a+" (O_APPEND); written with write(2) on its
                    descriptor, never through stdio's buffer */
    off_t cut_to; /* >= 0: a failed batch left bytes past this size that
                     could not be cut yet; cut before the next write */
    dynbuf buf;  /* one batch of encoded lines */
} file_sink;

static const sluice_option file_sink_options[] = {
    { "path", SLUICE_OPT_STRING, NULL, 1, 0, "file to append JSON lines to; \"-\" is stdout",
      .kind = SLUICE_KIND_PATH },
    { "sync", SLUICE_OPT_STRING, "batch", 0, 0,
      "batch: fsync before acknowledging each batch; none: leave flushing to the OS", .choices = "batch|none"},
    SLUICE_OPTION_END
};

static void file_sink_fini(sluice_ctx *ctx, void *state)
{
    file_sink *sink = state;
    if (!sink)
        return;
    if (sink->out && !sink->is_stdout)
        fclose(sink->out);
    else if (sink->out)
        fflush(sink->out);
    free(sink->path);
    dynbuf_free(&sink->buf);
    free(sink);
}

/* Cut a torn last line off the regular file open as fd: a line without
 * its newline is what a write killed mid-way (kill -9 of the sink) left,
 * and its batch was never acknowledged, so it comes again whole. Appending
 * after it would glue two records into one invalid line. Sets *cut to the
 * bytes removed. Returns 0, or -1 with errno set. */
static int cut_torn_line(int fd, off_t *cut)
{
    struct stat st;
    char chunk[4096];
    off_t end, pos;

    *cut = 0;
    if (fstat(fd, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    end = st.st_size;
    pos = end;
    while (pos > 0) {
        size_t want = pos < (off_t)sizeof(chunk) ? (size_t)pos : sizeof(chunk);
        ssize_t got = pread(fd, chunk, want, pos - (off_t)want);
        if (got != (ssize_t)want)
            return -1;
        if (pos == end && chunk[want - 1] == '\n')
            return 0; /* ends with a whole line */
        char *nl = NULL;
        for (size_t k = want; k > 0 && !nl; k--)
            if (chunk[k - 1] == '\n')
                nl = &chunk[k - 1];
        if (nl) {
            pos = pos - (off_t)want + (off_t)(nl - chunk) + 1;
            break;
        }
        pos -= (off_t)want;
    }
    if (ftruncate(fd, pos) != 0)
        return -1;
    *cut = end - pos;
    return 0;
}

static sluice_status file_sink_init(sluice_ctx *ctx, const json_t *config, void **state)
{
    sluice_status status = SLUICE_FATAL;
    file_sink *sink = calloc(1, sizeof(*sink));
    const char *path = json_string_value(json_object_get(config, "path"));
    const char *sync = json_string_value(json_object_get(config, "sync"));
    if (!sink) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    dynbuf_init(&sink->buf, 0);
    /* The table refuses an empty path (sluice check, FILE:LINE); the guard
     * keeps init() safe without the core. */
    if (!path || !*path) {
        sluice_fail(ctx, "option 'path' is empty: a file name or \"-\"");
        goto out;
    }
    if (!sync)
        sync = "batch";
    if (strcmp(sync, "batch") != 0 && strcmp(sync, "none") != 0) {
        sluice_fail(ctx, "option 'sync': expected \"batch\" or \"none\", got \"%s\"", sync);
        goto out;
    }
    sink->sync_batch = strcmp(sync, "batch") == 0;
    sink->is_stdout = strcmp(path, "-") == 0;
    if (!(sink->path = strdup(path))) {
        sluice_fail(ctx, "out of memory");
        goto out;
    }
    sink->cut_to = -1;
    sink->out = sink->is_stdout ? stdout : fopen(path, "a+"); /* + : to read its end */
    if (!sink->out) {
        sluice_fail(ctx, "cannot open %s for appending: %s", path, strerror(errno));
        goto out;
    }
    off_t cut = 0;
    if (!sink->is_stdout && cut_torn_line(fileno(sink->out), &cut) != 0) {
        sluice_fail(ctx, "cannot check the end of %s: %s", path, strerror(errno));
        goto out;
    }
    if (cut > 0)
        sluice_log(ctx, SLUICE_LOG_WARN, "%s ended in a torn line (a write cut short, its "
                   "batch comes again): removed its %lld bytes", path, (long long)cut);
    *state = sink;
    sink = NULL;
    status = SLUICE_OK;
out:
    file_sink_fini(ctx, sink);
    return status;
}

/* Append a record that is still the compact JSON text it travelled as,
 * + newline, to the batch buffer: no parse, no dump. Returns 0 or -1. */
static int buffer_text(file_sink *sink, const char *text, size_t len)
{
    return dynbuf_append(&sink->buf, text, len) == 0 && dynbuf_append(&sink->buf, "\n", 1) == 0
               ? 0 : -1;
}

/* Append record + newline to the batch buffer. Returns 0 or -1. */
static int buffer_record(file_sink *sink, const json_t *record)
{
    return dynbuf_append_json(&sink->buf, record, JSON_COMPACT) == 0 &&
                   dynbuf_append(&sink->buf, "\n", 1) == 0
               ? 0 : -1;
}

/* Write all of buf[0..len) to fd, going on after a short write or EINTR.
 * Returns 0, or -1 with errno set (bytes before the failure may be
 * written). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t done = write(fd, buf, len);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            return -1;
        if (done == 0) {
            errno = EIO;
            return -1;
        }
        buf += done;
        len -= (size_t)done;
    }
    return 0;
}

/* Cut the output back to `size` bytes, what it held before a batch that
 * failed (written in part, or not synced: its bytes may not be on disk),
 * so the batch's retry starts on a line boundary. When the cut itself
 * fails it is remembered (sink->cut_to) and tried again before the next
 * write. Outputs that cannot be cut (stdout as a pipe) are left alone. */
static void cut_failed_batch(sluice_ctx *ctx, file_sink *sink, off_t size)
{
    if (size < 0)
        return;
    if (ftruncate(fileno(sink->out), size) != 0) {
        sluice_log(ctx, SLUICE_LOG_WARN, "cannot cut the failed batch off %s: %s (will try "
                   "again before the next write)", sink->path, strerror(errno));
        sink->cut_to = size;
        return;
    }
    sink->cut_to = -1;
}

/* The size of the output before this batch, for cut_failed_batch, or -1
 * when it is not a regular file. Cuts what an earlier failed batch left
 * first. Returns 0, or -1 (with a warning) when that cut still fails. */
static int size_before_batch(sluice_ctx *ctx, file_sink *sink, off_t *size)
{
    struct stat st;
    int fd = fileno(sink->out);

    *size = -1;
    if (sink->cut_to >= 0) {
        if (ftruncate(fd, sink->cut_to) != 0) {
            sluice_log(ctx, SLUICE_LOG_WARN, "cannot cut the failed batch off %s: %s (will "
                       "retry)", sink->path, strerror(errno));
            return -1;
        }
        sink->cut_to = -1;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        *size = st.st_size;
    return 0;
}

static sluice_status file_sink_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    file_sink *sink = state;
    size_t count = sluice_batch_count(batch);
    dynbuf_reset(&sink->buf);
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        size_t text_len = 0;
        const char *text;
        json_t *record;

        if (outcome != SLUICE_RECORD_PENDING && outcome != SLUICE_RECORD_RETRY)
            continue;
        if ((text = sluice_batch_peek_text(batch, i, &text_len)) != NULL) {
            if (buffer_text(sink, text, text_len) != 0) {
                sluice_log(ctx, SLUICE_LOG_WARN, "out of memory buffering a batch (will retry)");
                return SLUICE_RETRY;
            }
            continue;
        }
        if (!(record = sluice_batch_get(batch, i)))
            continue;
        if (buffer_record(sink, record) != 0) {
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_REJECTED,
                                     "file-sink: record cannot be encoded as JSON");
            continue;
        }
    }
    /* One write per batch; a failure leaves every record to be retried,
     * after the part that did reach the file is cut off again. */
    if (sink->buf.len > 0) {
        off_t before;
        int fd = fileno(sink->out);

        if (size_before_batch(ctx, sink, &before) != 0)
            return SLUICE_RETRY;
        if (sink->is_stdout)
            fflush(stdout); /* nothing of ours is in it; keep the order anyway */
        if (write_all(fd, sink->buf.data, sink->buf.len) != 0) {
            int error = errno;
            cut_failed_batch(ctx, sink, before);
            sluice_log(ctx, SLUICE_LOG_WARN, "cannot write %s: %s (will retry)", sink->path,
                       strerror(error));
            return SLUICE_RETRY;
        }
        /* After a failed fsync the kernel may have dropped the pages it
         * could not write and will not report it again: the batch is not
         * known to be on disk, so it is cut off and written anew. */
        if (sink->sync_batch && fsync(fd) != 0 &&
            errno != EINVAL && errno != EROFS) { /* pipes and terminals cannot sync */
            int error = errno;
            cut_failed_batch(ctx, sink, before);
            sluice_log(ctx, SLUICE_LOG_WARN, "cannot fsync %s: %s (will retry)", sink->path,
                       strerror(error));
            return SLUICE_RETRY;
        }
    }
    for (size_t i = 0; i < count; i++) {
        sluice_outcome outcome = sluice_batch_outcome(batch, i);
        if ((outcome == SLUICE_RECORD_PENDING || outcome == SLUICE_RECORD_RETRY) &&
            (sluice_batch_peek_text(batch, i, NULL) || sluice_batch_get(batch, i)))
            sluice_batch_set_outcome(batch, i, SLUICE_RECORD_DONE, NULL);
    }
    return SLUICE_OK;
}

SLUICE_PLUGIN_DEFINE = {
    SLUICE_PLUGIN_HEADER,
    .name = "file-sink",
    .role = SLUICE_ROLE_SINK,
    .version = "1.0.0",
    .description = "JSON lines appended to a file or stdout, fsync'ed per batch",
    .options = file_sink_options,
    .init = file_sink_init,
    .fini = file_sink_fini,
    .write = file_sink_write,
};
