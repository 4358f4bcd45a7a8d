/* ac_feed_transport.h: internals shared by the remote feed locations'
 * files: the location (struct ac_feed_remote), the helpers of
 * ac_feed_remote.c the transports use, and the transports' entry points
 * (ac_feed_sftp.c: sftp:// over libssh2; ac_feed_s3.c: s3:// with SigV4).
 * Not part of the plugin's interface: ac_feed_remote.h is. */
#ifndef AC_FEED_TRANSPORT_H
#define AC_FEED_TRANSPORT_H

#include <stddef.h>
#include <curl/curl.h>

#include "ac_feed_remote.h"

/* Largest directory listing or ListObjectsV2 page read into memory. */
#define AC_FEED_MAX_LISTING_BYTES (64L * 1024 * 1024)

typedef enum { REMOTE_SFTP, REMOTE_S3 } remote_kind;

struct ac_feed_remote {
    remote_kind kind;
    char *name;              /* location for messages, no password */
    CURL *curl;
    int curl_initialised;    /* curl_global_init succeeded (to undo) */
    long timeout_s;
    /* sftp */
    char *base_url;          /* sftp://user@host:port/path/ (ends with '/') */
    char *ssh_key, *ssh_key_passphrase, *known_hosts, *password;
    int host_key_match;      /* last curl_khmatch seen, -1 none */
    /* s3 */
    char *bucket, *prefix;   /* prefix may be "" */
    char *object_base;       /* URL that object keys are appended to (no '/') */
    char *list_url;          /* URL of the bucket's listing (ends with '/') */
    char *sigv4;             /* "aws:amz:REGION:s3" */
    char *access_key_id, *secret_access_key;
    struct curl_slist *headers;
};

/* ---- ac_feed_remote.c: shared by both transports ---- */

/* CURLOPT_WRITEFUNCTION into a dynbuf (`user`; its limit bounds a
 * listing): returns the bytes taken, 0 (abort) when the buffer refuses. */
size_t ac_feed_write_to_buffer(char *bytes, size_t size, size_t count, void *user);

/* strdup of a string that may be NULL or "" (then NULL is returned);
 * *failed set to 1 on ENOMEM. Caller frees. */
char *ac_feed_copy_optional(const char *text, int *failed);

/* malloc'd concatenation of up to four strings (a NULL ends the list
 * early). Caller frees; NULL on ENOMEM. */
char *ac_feed_concat(const char *a, const char *b, const char *c, const char *d);

/* Append `name` (taken: freed on failure; NULL counts as ENOMEM) to the
 * growing array *names of *count strings. Returns 0 or -1. */
int ac_feed_names_push(char ***names, size_t *count, char *name);

/* 1 if a listed name is one the feed takes: not hidden, no deeper path,
 * matching the fnmatch `pattern`. */
int ac_feed_wanted(const char *name, const char *pattern);

/* Reset the location's handle for one request of `url` and set what every
 * request needs (timeouts, protocols, the transport's auth); curl_error
 * (CURL_ERROR_SIZE bytes) receives libcurl's message. */
void ac_feed_prepare(ac_feed_remote *remote, const char *url, char *curl_error);

/* ---- ac_feed_sftp.c ---- */

/* Fill the sftp parts of remote from options (location sftp://...).
 * Returns 0, or -1 with err set (bad URL, no credentials, unreadable key
 * or known_hosts file) or left "" (out of memory). */
int ac_sftp_open(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err,
                 size_t errlen);

/* The sftp part of ac_feed_prepare: known_hosts check and authentication. */
void ac_sftp_prepare(ac_feed_remote *remote);

/* The URL of file `name` in the location (escaped). Caller frees; NULL on
 * ENOMEM. */
char *ac_sftp_file_url(ac_feed_remote *remote, const char *name);

/* The sftp verdict of a finished transfer. `what` is "list" or the file
 * name; err says why when the result is not AC_REMOTE_OK. */
ac_remote_result ac_sftp_result(ac_feed_remote *remote, CURLcode code, const char *curl_error,
                                const char *what, char *err, size_t errlen);

/* Append to *names and *count the wanted names (ac_feed_wanted) of the
 * location's directory. Returns AC_REMOTE_OK, or another result with err
 * naming the location (the caller frees what was appended). */
ac_remote_result ac_sftp_list(ac_feed_remote *remote, const char *pattern, char ***names,
                              size_t *count, char *err, size_t errlen);

/* ---- ac_feed_s3.c ---- */

/* Fill the s3 parts of remote from options (location s3://...). Returns
 * 0, or -1 with err set (no bucket, no credentials, bad endpoint, libcurl
 * without SigV4) or left "" (out of memory). */
int ac_s3_open(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err,
               size_t errlen);

/* The s3 part of ac_feed_prepare: SigV4 signing, keys and headers. */
void ac_s3_prepare(ac_feed_remote *remote);

/* The URL of object prefix + `name` (SigV4-encoded). Caller frees; NULL on
 * ENOMEM. */
char *ac_s3_object_url(ac_feed_remote *remote, const char *name);

/* The s3 verdict of an HTTP answer other than 200 with XML error `body`
 * (may be NULL) to "list" or the download of file `what`: AC_REMOTE_GONE
 * (NoSuchKey on a download), AC_REMOTE_RETRY (429, 5xx) or
 * AC_REMOTE_FATAL, with err naming the location. */
ac_remote_result ac_s3_status_result(ac_feed_remote *remote, long status, const char *body,
                                     const char *what, char *err, size_t errlen);

/* Append to *names and *count the wanted names (ac_feed_wanted) under the
 * location's prefix, every ListObjectsV2 page. Returns AC_REMOTE_OK, or
 * another result with err naming the location (the caller frees what was
 * appended). */
ac_remote_result ac_s3_list(ac_feed_remote *remote, const char *pattern, char ***names,
                            size_t *count, char *err, size_t errlen);
#endif
