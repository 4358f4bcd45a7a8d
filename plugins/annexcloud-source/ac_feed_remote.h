/* ac_feed_remote.h: feed mode's remote locations, sftp:// (libcurl over
 * libssh2) and s3:// (libcurl with AWS SigV4): list the export files there
 * and download one into a local file, so the feed mode parses remote
 * files with the same CSV path and checkpoints as local ones. Messages
 * name the location (ac_feed_remote_name) and never a secret. */
#ifndef AC_FEED_REMOTE_H
#define AC_FEED_REMOTE_H

#include <stddef.h>

typedef struct ac_feed_remote ac_feed_remote;

/* How a remote call ended. */
typedef enum ac_remote_result {
    AC_REMOTE_OK = 0,
    AC_REMOTE_RETRY = 1,  /* transient (connection, timeout, 5xx): try later */
    AC_REMOTE_FATAL = 2,  /* needs a person: auth refused, host key, no bucket */
    AC_REMOTE_GONE = 3    /* fetch: the file is no longer there */
} ac_remote_result;

/* The options a location uses (borrowed; NULL = not set). */
typedef struct ac_feed_remote_options {
    const char *location;              /* sftp://user@host:port/path/ or s3://bucket/prefix/ */
    const char *ssh_key;               /* sftp: private key file */
    const char *ssh_key_passphrase;    /* sftp: its passphrase (secret) */
    const char *known_hosts;           /* sftp: known_hosts file (default ~/.ssh/known_hosts) */
    const char *password;              /* sftp: password auth (secret) */
    const char *s3_region;             /* s3: region, e.g. us-east-1 */
    const char *s3_endpoint;           /* s3: endpoint URL; set = path-style requests */
    const char *s3_access_key_id;
    const char *s3_secret_access_key;  /* secret */
    const char *s3_session_token;      /* secret, optional */
    long timeout_s;                    /* per transfer: connect and stall limit */
} ac_feed_remote_options;

/* 1 if `location` is a URL this module serves (sftp:// or s3://). */
int ac_feed_is_remote(const char *location);

/* Check the options and prepare a location. Returns it (caller owns;
 * ac_feed_remote_close) or NULL with the reason in err (bad URL, missing
 * credentials, unreadable key or known_hosts file). */
ac_feed_remote *ac_feed_remote_open(const ac_feed_remote_options *options, char *err, size_t errlen);

/* The location for messages: the URL without any password. Borrowed. */
const char *ac_feed_remote_name(const ac_feed_remote *remote);

/* The file names directly in the location that match the fnmatch
 * `pattern`, sorted (strcmp), hidden names and subdirectories left out.
 * On AC_REMOTE_OK *names (caller owns; ac_feed_names_free) and *count are
 * set; otherwise err says why, naming the location. */
ac_remote_result ac_feed_remote_list(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                                     char *err, size_t errlen);

/* Download file `name` of the location into `dest_path`, atomically (a
 * temporary file renamed into place once complete and flushed). Returns
 * AC_REMOTE_OK, or another result with err naming the location. */
ac_remote_result ac_feed_remote_fetch(ac_feed_remote *remote, const char *name, const char *dest_path,
                                      char *err, size_t errlen);

void ac_feed_names_free(char **names, size_t count);

/* Close and NULL the caller's pointer. Accepts NULL. */
void ac_feed_remote_close(ac_feed_remote **remote_p);

/* Parse a ListObjectsV2 answer: appends every <Contents><Key> (XML
 * entities decoded) to *keys and *count (grown with realloc; caller frees
 * with ac_feed_names_free), sets *truncated from <IsTruncated> and
 * *next_token (caller frees; NULL if absent). Returns 0, -1 on a
 * malformed document or out of memory. Exposed for the unit tests. */
int ac_s3_parse_listing(const char *xml, char ***keys, size_t *count, int *truncated, char **next_token);
#endif
