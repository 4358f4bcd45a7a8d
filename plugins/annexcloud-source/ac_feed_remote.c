/* ac_feed_remote.c: feed mode's sftp:// and s3:// locations (see
 * ac_feed_remote.h), the part both transports share: opening and closing
 * a location, one libcurl easy handle per location reused so an SSH
 * session or HTTP connection serves the listing and every download, the
 * sorted listing, and the atomic download into the spool. The transports
 * are ac_feed_sftp.c and ac_feed_s3.c (ac_feed_transport.h). */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ac_feed_transport.h"
#include "util/dynbuf.h"

#define MAX_ERROR_BODY 16384

/* ac_feed_write_to_buffer: see ac_feed_transport.h. */
size_t ac_feed_write_to_buffer(char *bytes, size_t size, size_t count, void *user)
{
    return dynbuf_append(user, bytes, size * count) == 0 ? size * count : 0;
}

/* A download: the body goes to `file` while the status is 200 (sftp has
 * none), to `error_body` otherwise. */
typedef struct download {
    CURL *curl;
    int is_http;
    FILE *file;
    dynbuf error_body;
    int write_failed;
} download;

/* CURLOPT_WRITEFUNCTION of a download (`user`): the body into dl->file
 * while the status is 200, else into dl->error_body (cut short at its
 * limit). Returns the bytes taken, 0 (abort) when the file write fails
 * (dl->write_failed holds the errno). */
static size_t write_download(char *bytes, size_t size, size_t count, void *user)
{
    download *dl = user;
    size_t len = size * count;
    long status = 200;

    if (dl->is_http)
        curl_easy_getinfo(dl->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        dynbuf_append(&dl->error_body, bytes, len); /* an error body may be cut short */
        return len;
    }
    if (fwrite(bytes, 1, len, dl->file) != len) {
        dl->write_failed = errno ? errno : EIO;
        return 0;
    }
    return len;
}

int ac_feed_is_remote(const char *location)
{
    return location && (strncmp(location, "sftp://", 7) == 0 || strncmp(location, "s3://", 5) == 0);
}

const char *ac_feed_remote_name(const ac_feed_remote *remote)
{
    return remote->name;
}

void ac_feed_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

void ac_feed_remote_close(ac_feed_remote **remote_p)
{
    ac_feed_remote *remote = remote_p ? *remote_p : NULL;

    if (!remote)
        return;
    if (remote->curl)
        curl_easy_cleanup(remote->curl);
    if (remote->curl_initialised)
        curl_global_cleanup();
    curl_slist_free_all(remote->headers);
    free(remote->name);
    free(remote->base_url);
    free(remote->ssh_key);
    free(remote->ssh_key_passphrase);
    free(remote->known_hosts);
    free(remote->password);
    free(remote->bucket);
    free(remote->prefix);
    free(remote->object_base);
    free(remote->list_url);
    free(remote->sigv4);
    free(remote->access_key_id);
    free(remote->secret_access_key);
    free(remote);
    *remote_p = NULL;
}

/* ac_feed_copy_optional: see ac_feed_transport.h. */
char *ac_feed_copy_optional(const char *text, int *failed)
{
    char *copy;

    if (!text || !*text)
        return NULL;
    copy = strdup(text);
    if (!copy)
        *failed = 1;
    return copy;
}

/* ac_feed_concat: see ac_feed_transport.h. */
char *ac_feed_concat(const char *a, const char *b, const char *c, const char *d)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = b && c ? strlen(c) : 0, ld = b && c && d ? strlen(d) : 0;
    char *out = malloc(la + lb + lc + ld + 1);

    if (!out)
        return NULL;
    memcpy(out, a, la);
    if (lb)
        memcpy(out + la, b, lb);
    if (lc)
        memcpy(out + la + lb, c, lc);
    if (ld)
        memcpy(out + la + lb + lc, d, ld);
    out[la + lb + lc + ld] = '\0';
    return out;
}

ac_feed_remote *ac_feed_remote_open(const ac_feed_remote_options *options, char *err, size_t errlen)
{
    ac_feed_remote *remote = calloc(1, sizeof(*remote));
    int rc;

    if (!remote) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    err[0] = '\0';
    remote->timeout_s = options->timeout_s > 0 ? options->timeout_s : 30;
    remote->host_key_match = -1;
    if (!ac_feed_is_remote(options->location)) {
        snprintf(err, errlen, "feed location '%s' is not sftp:// or s3://", options->location ? options->location : "");
        rc = -1;
    } else if (strncmp(options->location, "sftp://", 7) == 0) {
        remote->kind = REMOTE_SFTP;
        rc = ac_sftp_open(remote, options, err, errlen);
    } else {
        remote->kind = REMOTE_S3;
        rc = ac_s3_open(remote, options, err, errlen);
    }
    if (rc == 0) {
        /* Reference-counted; paired with the cleanup in ac_feed_remote_close. */
        remote->curl_initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
        remote->curl = remote->curl_initialised ? curl_easy_init() : NULL;
        if (!remote->curl)
            rc = -1;
    }
    if (rc != 0) {
        if (!err[0])
            snprintf(err, errlen, "out of memory preparing the feed location");
        ac_feed_remote_close(&remote);
    }
    return remote;
}

/* Allow only the location's protocols (no redirect elsewhere). */
static void set_protocols(CURL *curl, const char *names, long mask)
{
#if LIBCURL_VERSION_NUM >= 0x075500
    (void)mask;
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, names);
#else
    (void)names;
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, mask);
#endif
}

/* ac_feed_prepare: see ac_feed_transport.h. */
void ac_feed_prepare(ac_feed_remote *remote, const char *url, char *curl_error)
{
    CURL *curl = remote->curl;

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, remote->timeout_s);
    /* A stalled transfer (under 1 byte/s for timeout_s) is abandoned. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, remote->timeout_s);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "sluice-annexcloud-source/" PACKAGE_VERSION);
    remote->host_key_match = -1;
    curl_error[0] = '\0';
    if (remote->kind == REMOTE_SFTP) {
        set_protocols(curl, "sftp", CURLPROTO_SFTP);
        ac_sftp_prepare(remote);
    } else {
        set_protocols(curl, "http,https", CURLPROTO_HTTP | CURLPROTO_HTTPS);
        ac_s3_prepare(remote);
    }
}

/* ac_feed_names_push: see ac_feed_transport.h. */
int ac_feed_names_push(char ***names, size_t *count, char *name)
{
    char **grown;

    if (!name)
        return -1;
    grown = realloc(*names, (*count + 1) * sizeof(*grown));
    if (!grown) {
        free(name);
        return -1;
    }
    grown[(*count)++] = name;
    *names = grown;
    return 0;
}

/* qsort comparison of two names (strcmp order). */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ac_feed_wanted: see ac_feed_transport.h. */
int ac_feed_wanted(const char *name, const char *pattern)
{
    return name[0] != '\0' && name[0] != '.' && !strchr(name, '/') && fnmatch(pattern, name, 0) == 0;
}

ac_remote_result ac_feed_remote_list(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                                     char *err, size_t errlen)
{
    ac_remote_result result;

    *names = NULL;
    *count = 0;
    result = remote->kind == REMOTE_SFTP ? ac_sftp_list(remote, pattern, names, count, err, errlen)
                                         : ac_s3_list(remote, pattern, names, count, err, errlen);
    if (result != AC_REMOTE_OK) {
        ac_feed_names_free(*names, *count);
        *names = NULL;
        *count = 0;
        return result;
    }
    if (*count > 1)
        qsort(*names, *count, sizeof(**names), name_cmp);
    return AC_REMOTE_OK;
}

ac_remote_result ac_feed_remote_fetch(ac_feed_remote *remote, const char *name, const char *dest_path,
                                      char *err, size_t errlen)
{
    char curl_error[CURL_ERROR_SIZE], part_path[4096];
    download dl = {.curl = remote->curl, .is_http = remote->kind == REMOTE_S3};
    ac_remote_result result = AC_REMOTE_RETRY;
    char *url = NULL;
    long status = 0;
    CURLcode code;

    dynbuf_init(&dl.error_body, MAX_ERROR_BODY);
    if (snprintf(part_path, sizeof(part_path), "%s.part", dest_path) >= (int)sizeof(part_path)) {
        snprintf(err, errlen, "spool path for %s is too long", name);
        return AC_REMOTE_FATAL;
    }
    url = remote->kind == REMOTE_SFTP ? ac_sftp_file_url(remote, name) : ac_s3_object_url(remote, name);
    if (!url) {
        snprintf(err, errlen, "out of memory fetching %s%s", remote->name, name);
        goto out;
    }
    dl.file = fopen(part_path, "wb");
    if (!dl.file) {
        snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(errno));
        goto out;
    }
    ac_feed_prepare(remote, url, curl_error);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, write_download);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEDATA, &dl);
    code = curl_easy_perform(remote->curl);
    if (dl.is_http)
        curl_easy_getinfo(remote->curl, CURLINFO_RESPONSE_CODE, &status);
    if (dl.write_failed) {
        snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(dl.write_failed));
        result = AC_REMOTE_RETRY;
    } else if (remote->kind == REMOTE_SFTP) {
        result = ac_sftp_result(remote, code, curl_error, name, err, errlen);
    } else if (code != CURLE_OK) {
        snprintf(err, errlen, "%s%s: download failed: %s", remote->name, name,
                 curl_error[0] ? curl_error : curl_easy_strerror(code));
        result = AC_REMOTE_RETRY;
    } else if (status != 200) {
        result = ac_s3_status_result(remote, status, dl.error_body.data, name, err, errlen);
    } else {
        result = AC_REMOTE_OK;
    }
    if (result == AC_REMOTE_OK) {
        /* Durable before it is renamed into place: the checkpoint may
         * soon point into this file. */
        if (fflush(dl.file) != 0 || fsync(fileno(dl.file)) != 0) {
            snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(errno));
            result = AC_REMOTE_RETRY;
        }
    }
    if (fclose(dl.file) != 0 && result == AC_REMOTE_OK) {
        snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(errno));
        result = AC_REMOTE_RETRY;
    }
    if (result == AC_REMOTE_OK && rename(part_path, dest_path) != 0) {
        snprintf(err, errlen, "cannot rename %s into place: %s", part_path, strerror(errno));
        result = AC_REMOTE_RETRY;
    }
    if (result != AC_REMOTE_OK)
        unlink(part_path);
out:
    free(url);
    dynbuf_free(&dl.error_body);
    return result;
}
