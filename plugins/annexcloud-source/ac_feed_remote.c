/* ac_feed_remote.c: feed mode's sftp:// and s3:// locations (see
 * ac_feed_remote.h). One libcurl easy handle per location, reused so an
 * SSH session or HTTP connection serves the listing and every download.
 * sftp: directory listing with CURLOPT_DIRLISTONLY, public-key (or
 * password) auth, host key checked against a known_hosts file, unknown
 * hosts refused. s3: ListObjectsV2 pages (continuation-token) and GETs,
 * signed by libcurl's CURLOPT_AWS_SIGV4; the listing's XML is read with a
 * small scanner (only Key, IsTruncated, NextContinuationToken matter). */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ac_feed_remote.h"
#include "util/dynbuf.h"

#define EMPTY_PAYLOAD_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_LISTING_BYTES (64L * 1024 * 1024)
#define MAX_ERROR_BODY 16384
#define MAX_LIST_PAGES 100000

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

/* A bounded growing buffer for listings and error bodies. */
/* CURLOPT_WRITEFUNCTION into a dynbuf (its limit bounds a listing). */
static size_t write_to_buffer(char *bytes, size_t size, size_t count, void *user)
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

/* strdup of a string that may be NULL; *failed set on ENOMEM. */
static char *copy_optional(const char *text, int *failed)
{
    char *copy;

    if (!text || !*text)
        return NULL;
    copy = strdup(text);
    if (!copy)
        *failed = 1;
    return copy;
}

/* malloc'd concatenation of up to four strings (NULL ends early). */
static char *concat(const char *a, const char *b, const char *c, const char *d)
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

/* SigV4 URI encoding: unreserved bytes kept, '/' kept if keep_slash,
 * everything else %XX. Returns a new string or NULL. */
static char *uri_encode(const char *text, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(3 * strlen(text) + 1), *p = out;

    if (!out)
        return NULL;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
            *s == '_' || *s == '.' || *s == '~' || (keep_slash && *s == '/')) {
            *p++ = (char)*s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 15];
        }
    }
    *p = '\0';
    return out;
}

static int readable(const char *path)
{
    return path && access(path, R_OK) == 0;
}

/* Fill the sftp parts of remote from options. Returns 0 or -1 (err). */
static int open_sftp(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err, size_t errlen)
{
    const char *url = options->location, *authority = url + 7;
    size_t authority_len = strcspn(authority, "/");
    const char *at = memchr(authority, '@', authority_len);
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    const char *home = getenv("HOME");
    int failed = 0;

    if (!at || at == authority) {
        snprintf(err, errlen, "feed location sftp://%.*s...: no user (write sftp://USER@HOST[:PORT]/PATH/)",
                 (int)authority_len, authority);
        return -1;
    }
    if (authority[authority_len] != '/' || at + 1 == authority + authority_len) {
        snprintf(err, errlen, "feed location must be sftp://USER@HOST[:PORT]/PATH/ (no host or path)");
        return -1;
    }
    /* The name for messages leaves out a password written into the URL. */
    {
        size_t user_len = colon ? (size_t)(colon - authority) : (size_t)(at - authority);
        size_t rest_len = strlen(at);
        remote->name = malloc(7 + user_len + rest_len + 2);
        if (!remote->name)
            return -1;
        memcpy(remote->name, "sftp://", 7);
        memcpy(remote->name + 7, authority, user_len);
        memcpy(remote->name + 7 + user_len, at, rest_len + 1);
    }
    remote->base_url = url[strlen(url) - 1] == '/' ? strdup(url) : concat(url, "/", NULL, NULL);
    if (remote->base_url && remote->name[strlen(remote->name) - 1] != '/') {
        char *with_slash = concat(remote->name, "/", NULL, NULL);
        free(remote->name);
        remote->name = with_slash;
    }
    if (!remote->base_url || !remote->name)
        return -1;
    remote->ssh_key = copy_optional(options->ssh_key, &failed);
    remote->ssh_key_passphrase = copy_optional(options->ssh_key_passphrase, &failed);
    remote->password = copy_optional(options->password, &failed);
    if (options->known_hosts && *options->known_hosts)
        remote->known_hosts = strdup(options->known_hosts);
    else if (home && *home)
        remote->known_hosts = concat(home, "/.ssh/known_hosts", NULL, NULL);
    if (failed || (!remote->known_hosts && home && *home))
        return -1;
    if (!remote->ssh_key && !remote->password && !colon) {
        snprintf(err, errlen, "%s: set feed_ssh_key (private key file) or feed_password", remote->name);
        return -1;
    }
    if (remote->ssh_key && !readable(remote->ssh_key)) {
        snprintf(err, errlen, "%s: feed_ssh_key '%s' cannot be read: %s", remote->name, remote->ssh_key,
                 strerror(errno));
        return -1;
    }
    if (!readable(remote->known_hosts)) {
        snprintf(err, errlen, "%s: known_hosts file '%s' cannot be read (set feed_known_hosts; unknown hosts are refused)",
                 remote->name, remote->known_hosts ? remote->known_hosts : "~/.ssh/known_hosts");
        return -1;
    }
    return 0;
}

/* Fill the s3 parts of remote from options. Returns 0 or -1 (err). */
static int open_s3(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err, size_t errlen)
{
    const char *bucket = options->location + 5;
    size_t bucket_len = strcspn(bucket, "/");
    const char *prefix = bucket[bucket_len] == '/' ? bucket + bucket_len + 1 : "";
    const char *region = options->s3_region && *options->s3_region ? options->s3_region : "us-east-1";
    char header[4096];
    int failed = 0;

    if (bucket_len == 0) {
        snprintf(err, errlen, "feed location must be s3://BUCKET/PREFIX/ (no bucket in '%s')", options->location);
        return -1;
    }
#if LIBCURL_VERSION_NUM < 0x074b00
    snprintf(err, errlen, "%s: s3:// needs libcurl >= 7.75 (CURLOPT_AWS_SIGV4)", options->location);
    return -1;
#endif
    remote->bucket = strndup(bucket, bucket_len);
    remote->prefix = strdup(prefix);
    remote->name = strdup(options->location);
    if (!remote->bucket || !remote->prefix || !remote->name)
        return -1;
    if (!options->s3_access_key_id || !*options->s3_access_key_id || !options->s3_secret_access_key ||
        !*options->s3_secret_access_key) {
        snprintf(err, errlen, "%s: set feed_s3_access_key_id and feed_s3_secret_access_key", remote->name);
        return -1;
    }
    if (options->s3_endpoint && *options->s3_endpoint) {
        /* An explicit endpoint (S3-compatible servers): path-style URLs. */
        size_t len = strlen(options->s3_endpoint);
        while (len > 0 && options->s3_endpoint[len - 1] == '/')
            len--;
        if (strncmp(options->s3_endpoint, "http://", 7) != 0 && strncmp(options->s3_endpoint, "https://", 8) != 0) {
            snprintf(err, errlen, "%s: feed_s3_endpoint '%s' is not an http:// or https:// URL", remote->name,
                     options->s3_endpoint);
            return -1;
        }
        {
            char *endpoint = strndup(options->s3_endpoint, len);
            remote->object_base = endpoint ? concat(endpoint, "/", remote->bucket, NULL) : NULL;
            free(endpoint);
        }
    } else {
        remote->object_base = concat("https://", remote->bucket, ".s3.", region);
        if (remote->object_base) {
            char *full = concat(remote->object_base, ".amazonaws.com", NULL, NULL);
            free(remote->object_base);
            remote->object_base = full;
        }
    }
    if (!remote->object_base)
        return -1;
    remote->list_url = concat(remote->object_base, "/", NULL, NULL);
    remote->sigv4 = concat("aws:amz:", region, ":s3", NULL);
    remote->access_key_id = copy_optional(options->s3_access_key_id, &failed);
    remote->secret_access_key = copy_optional(options->s3_secret_access_key, &failed);
    if (failed || !remote->list_url || !remote->sigv4)
        return -1;
    /* S3 wants the payload hash in a header; libcurl signs every header
     * it sends, this one and the session token included. */
    remote->headers = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_PAYLOAD_SHA256);
    if (!remote->headers)
        return -1;
    if (options->s3_session_token && *options->s3_session_token) {
        struct curl_slist *more;
        if (snprintf(header, sizeof(header), "x-amz-security-token: %s", options->s3_session_token) >=
            (int)sizeof(header)) {
            snprintf(err, errlen, "%s: feed_s3_session_token is too long", remote->name);
            return -1;
        }
        more = curl_slist_append(remote->headers, header);
        memset(header, 0, sizeof(header));
        if (!more)
            return -1;
        remote->headers = more;
    }
    return 0;
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
        rc = open_sftp(remote, options, err, errlen);
    } else {
        remote->kind = REMOTE_S3;
        rc = open_s3(remote, options, err, errlen);
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

/* libcurl's host key verdict: accept only a key that matches known_hosts;
 * remember why a key was refused for the message. */
static int check_host_key(CURL *easy, const struct curl_khkey *known_key, const struct curl_khkey *found_key,
                          enum curl_khmatch match, void *user)
{
    ac_feed_remote *remote = user;

    (void)easy;
    (void)known_key;
    (void)found_key;
    remote->host_key_match = (int)match;
    return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
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

/* Reset the handle and set what every request of this location needs. */
static void prepare(ac_feed_remote *remote, const char *url, char *curl_error)
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
        curl_easy_setopt(curl, CURLOPT_SSH_KNOWNHOSTS, remote->known_hosts);
        curl_easy_setopt(curl, CURLOPT_SSH_KEYFUNCTION, check_host_key);
        curl_easy_setopt(curl, CURLOPT_SSH_KEYDATA, remote);
        if (remote->ssh_key) {
            curl_easy_setopt(curl, CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
            curl_easy_setopt(curl, CURLOPT_SSH_PRIVATE_KEYFILE, remote->ssh_key);
            /* "": libssh2 derives the public key from the private one. */
            curl_easy_setopt(curl, CURLOPT_SSH_PUBLIC_KEYFILE, "");
            if (remote->ssh_key_passphrase)
                curl_easy_setopt(curl, CURLOPT_KEYPASSWD, remote->ssh_key_passphrase);
        } else {
            curl_easy_setopt(curl, CURLOPT_SSH_AUTH_TYPES, (long)(CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD));
            if (remote->password)
                curl_easy_setopt(curl, CURLOPT_PASSWORD, remote->password);
        }
    } else {
        set_protocols(curl, "http,https", CURLPROTO_HTTP | CURLPROTO_HTTPS);
#if LIBCURL_VERSION_NUM >= 0x074b00
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, remote->sigv4);
#endif
        curl_easy_setopt(curl, CURLOPT_USERNAME, remote->access_key_id);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, remote->secret_access_key);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, remote->headers);
    }
}

/* The sftp verdict of a finished transfer. `what` is "list" or the file. */
static ac_remote_result sftp_result(ac_feed_remote *remote, CURLcode code, const char *curl_error, const char *what,
                                    char *err, size_t errlen)
{
    const char *detail = curl_error[0] ? curl_error : curl_easy_strerror(code);

    switch (code) {
    case CURLE_OK:
        return AC_REMOTE_OK;
    case CURLE_LOGIN_DENIED:
        snprintf(err, errlen, "%s: authentication refused (%s)", remote->name,
                 remote->ssh_key ? "check feed_ssh_key and its passphrase" : "check feed_password");
        return AC_REMOTE_FATAL;
    case CURLE_PEER_FAILED_VERIFICATION:
        if (remote->host_key_match == CURLKHMATCH_MISMATCH)
            snprintf(err, errlen, "%s: host key does not match the one in %s (refused: possible man in the middle)",
                     remote->name, remote->known_hosts);
        else
            snprintf(err, errlen, "%s: host is not in known_hosts %s (unknown hosts are refused)", remote->name,
                     remote->known_hosts);
        return AC_REMOTE_FATAL;
    case CURLE_REMOTE_FILE_NOT_FOUND:
        if (strcmp(what, "list") == 0) {
            snprintf(err, errlen, "%s: no such directory", remote->name);
            return AC_REMOTE_FATAL;
        }
        snprintf(err, errlen, "%s%s: no longer there", remote->name, what);
        return AC_REMOTE_GONE;
    case CURLE_REMOTE_ACCESS_DENIED:
        snprintf(err, errlen, "%s%s: permission denied", remote->name, strcmp(what, "list") == 0 ? "" : what);
        return AC_REMOTE_FATAL;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(err, errlen, "%s: this libcurl has no sftp support (%s)", remote->name, detail);
        return AC_REMOTE_FATAL;
    default:
        snprintf(err, errlen, "%s: %s failed: %s", remote->name, strcmp(what, "list") == 0 ? "listing" : what,
                 detail);
        return AC_REMOTE_RETRY;
    }
}

/* Copy the text of the first <tag>...</tag> of xml (entities kept) into
 * out. Returns 0, -1 if absent. */
static int xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    const char *start, *end;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    start = xml ? strstr(xml, open) : NULL;
    if (!start)
        return -1;
    start += strlen(open);
    end = strstr(start, close);
    if (!end)
        return -1;
    snprintf(out, outlen, "%.*s", (int)(end - start), start);
    return 0;
}

/* The s3 verdict of an HTTP answer other than 200. */
static ac_remote_result s3_status_result(ac_feed_remote *remote, long status, const char *body, const char *what,
                                         char *err, size_t errlen)
{
    char code[128] = "", message[512] = "";
    int is_list = strcmp(what, "list") == 0;

    xml_text(body, "Code", code, sizeof(code));
    xml_text(body, "Message", message, sizeof(message));
    if (status == 404 && strcmp(code, "NoSuchKey") == 0 && !is_list) {
        snprintf(err, errlen, "%s%s: no longer there (HTTP 404 NoSuchKey)", remote->name, what);
        return AC_REMOTE_GONE;
    }
    snprintf(err, errlen, "%s%s: %s (HTTP %ld%s%s%s%s)", remote->name, is_list ? "" : what,
             status == 401 || status == 403 ? "access refused"
             : status == 404                ? "not found"
             : status == 429 || status >= 500 ? "server busy or failing"
                                              : "request refused",
             status, code[0] ? " " : "", code, message[0] ? ": " : "", message);
    return status == 429 || status >= 500 ? AC_REMOTE_RETRY : AC_REMOTE_FATAL;
}

/* Decode the XML entities of text[0..len) into a new string. */
static char *xml_unescape(const char *text, size_t len)
{
    char *out = malloc(len + 1), *p = out;
    size_t i = 0;

    if (!out)
        return NULL;
    while (i < len) {
        static const struct {
            const char *entity;
            char value;
        } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        size_t k;

        if (text[i] != '&') {
            *p++ = text[i++];
            continue;
        }
        for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
            size_t elen = strlen(named[k].entity);
            if (i + elen <= len && strncmp(text + i, named[k].entity, elen) == 0) {
                *p++ = named[k].value;
                i += elen;
                break;
            }
        }
        if (k < sizeof(named) / sizeof(named[0]))
            continue;
        if (i + 3 < len && text[i + 1] == '#') {
            /* &#NN; or &#xHH; as UTF-8 */
            int hex = text[i + 2] == 'x' || text[i + 2] == 'X';
            const char *digits = text + i + (hex ? 3 : 2);
            char *end = NULL;
            unsigned long cp;
            errno = 0;
            cp = strtoul(digits, &end, hex ? 16 : 10);
            if (errno == 0 && end != digits && end < text + len && *end == ';' && cp > 0 && cp <= 0x10FFFF) {
                if (cp < 0x80) {
                    *p++ = (char)cp;
                } else if (cp < 0x800) {
                    *p++ = (char)(0xC0 | (cp >> 6));
                    *p++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *p++ = (char)(0xE0 | (cp >> 12));
                    *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *p++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *p++ = (char)(0xF0 | (cp >> 18));
                    *p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *p++ = (char)(0x80 | (cp & 0x3F));
                }
                i = (size_t)(end - text) + 1;
                continue;
            }
        }
        free(out);
        return NULL; /* an '&' that starts no entity: not well-formed XML */
    }
    *p = '\0';
    return out;
}

/* Append a new string to a growing array. Returns 0 or -1. */
static int names_push(char ***names, size_t *count, char *name)
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

int ac_s3_parse_listing(const char *xml, char ***keys, size_t *count, int *truncated, char **next_token)
{
    const char *p, *result = strstr(xml, "<ListBucketResult");
    char flag[16] = "";

    *truncated = 0;
    *next_token = NULL;
    if (!result)
        return -1;
    for (p = result; (p = strstr(p, "<Contents>")) != NULL;) {
        const char *end = strstr(p, "</Contents>");
        const char *key = strstr(p, "<Key>");
        const char *key_end;
        if (!end || !key || key > end)
            return -1;
        key += 5;
        key_end = strstr(key, "</Key>");
        if (!key_end || key_end > end)
            return -1;
        if (names_push(keys, count, xml_unescape(key, (size_t)(key_end - key))) != 0)
            return -1;
        p = end;
    }
    if (xml_text(result, "IsTruncated", flag, sizeof(flag)) == 0)
        *truncated = strcmp(flag, "true") == 0;
    p = strstr(result, "<NextContinuationToken>");
    if (p) {
        const char *end;
        p += strlen("<NextContinuationToken>");
        end = strstr(p, "</NextContinuationToken>");
        if (!end)
            return -1;
        *next_token = xml_unescape(p, (size_t)(end - p));
        if (!*next_token)
            return -1;
    }
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A listed name the feed takes: not hidden, no deeper path, matching. */
static int wanted(const char *name, const char *pattern)
{
    return name[0] != '\0' && name[0] != '.' && !strchr(name, '/') && fnmatch(pattern, name, 0) == 0;
}

static ac_remote_result list_sftp(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                                  char *err, size_t errlen)
{
    char curl_error[CURL_ERROR_SIZE];
    dynbuf listing;
    ac_remote_result result;
    CURLcode code;
    char *line, *next;

    dynbuf_init(&listing, MAX_LISTING_BYTES);
    prepare(remote, remote->base_url, curl_error);
    curl_easy_setopt(remote->curl, CURLOPT_DIRLISTONLY, 1L);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, write_to_buffer);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEDATA, &listing);
    code = curl_easy_perform(remote->curl);
    if (code == CURLE_WRITE_ERROR && listing.overflow) {
        snprintf(err, errlen, "%s: directory listing larger than %ld bytes", remote->name, MAX_LISTING_BYTES);
        result = AC_REMOTE_FATAL;
        goto out;
    }
    result = sftp_result(remote, code, curl_error, "list", err, errlen);
    if (result != AC_REMOTE_OK)
        goto out;
    for (line = listing.data; line && *line; line = next) {
        size_t len = strcspn(line, "\r\n");
        next = line + len;
        while (*next == '\r' || *next == '\n')
            *next++ = '\0';
        line[len] = '\0';
        if (wanted(line, pattern) && names_push(names, count, strdup(line)) != 0) {
            snprintf(err, errlen, "out of memory listing %s", remote->name);
            result = AC_REMOTE_RETRY;
            goto out;
        }
    }
out:
    dynbuf_free(&listing);
    return result;
}

static ac_remote_result list_s3(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                                char *err, size_t errlen)
{
    char curl_error[CURL_ERROR_SIZE];
    char *token = NULL, *encoded_prefix = uri_encode(remote->prefix, 0);
    ac_remote_result result = AC_REMOTE_OK;
    size_t prefix_len = strlen(remote->prefix);
    int pages = 0;

    if (!encoded_prefix) {
        snprintf(err, errlen, "out of memory listing %s", remote->name);
        return AC_REMOTE_RETRY;
    }
    do {
        dynbuf page;
        char **keys = NULL, *url = NULL, *encoded_token = NULL, *next_token = NULL;
        size_t key_count = 0;
        long status = 0;
        int truncated = 0;
        CURLcode code;

        dynbuf_init(&page, MAX_LISTING_BYTES);
        /* Parameters in sorted order, values SigV4-encoded, so the URL's
         * query is already the canonical query whatever libcurl does. */
        encoded_token = token ? uri_encode(token, 0) : NULL;
        if (token && !encoded_token) {
            result = AC_REMOTE_RETRY;
        } else {
            size_t cap = strlen(remote->list_url) + strlen(encoded_prefix) + (encoded_token ? strlen(encoded_token) : 0) + 64;
            url = malloc(cap);
            if (url)
                snprintf(url, cap, "%s?%s%s%slist-type=2%s%s", remote->list_url, encoded_token ? "continuation-token=" : "",
                         encoded_token ? encoded_token : "", encoded_token ? "&" : "", prefix_len ? "&prefix=" : "",
                         prefix_len ? encoded_prefix : "");
            else
                result = AC_REMOTE_RETRY;
        }
        if (result != AC_REMOTE_OK) {
            snprintf(err, errlen, "out of memory listing %s", remote->name);
            free(encoded_token);
            break;
        }
        prepare(remote, url, curl_error);
        curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, write_to_buffer);
        curl_easy_setopt(remote->curl, CURLOPT_WRITEDATA, &page);
        code = curl_easy_perform(remote->curl);
        curl_easy_getinfo(remote->curl, CURLINFO_RESPONSE_CODE, &status);
        free(url);
        free(encoded_token);
        if (code != CURLE_OK) {
            snprintf(err, errlen, "%s: listing failed: %s", remote->name,
                     page.overflow ? "listing page too large" : curl_error[0] ? curl_error : curl_easy_strerror(code));
            result = page.overflow ? AC_REMOTE_FATAL : AC_REMOTE_RETRY;
        } else if (status != 200) {
            result = s3_status_result(remote, status, page.data, "list", err, errlen);
        } else if (!page.data || ac_s3_parse_listing(page.data, &keys, &key_count, &truncated, &next_token) != 0) {
            snprintf(err, errlen, "%s: the ListObjectsV2 answer is not a listing I can read", remote->name);
            result = AC_REMOTE_RETRY;
        } else if (truncated && (!next_token || !*next_token)) {
            snprintf(err, errlen, "%s: listing truncated without a NextContinuationToken", remote->name);
            result = AC_REMOTE_FATAL;
        }
        for (size_t i = 0; result == AC_REMOTE_OK && i < key_count; i++) {
            const char *name = keys[i] + (strncmp(keys[i], remote->prefix, prefix_len) == 0 ? prefix_len : 0);
            if (wanted(name, pattern) && names_push(names, count, strdup(name)) != 0) {
                snprintf(err, errlen, "out of memory listing %s", remote->name);
                result = AC_REMOTE_RETRY;
            }
        }
        ac_feed_names_free(keys, key_count);
        dynbuf_free(&page);
        free(token);
        token = truncated ? next_token : NULL;
        if (!truncated)
            free(next_token);
        if (result == AC_REMOTE_OK && token && ++pages >= MAX_LIST_PAGES) {
            snprintf(err, errlen, "%s: more than %d listing pages", remote->name, MAX_LIST_PAGES);
            result = AC_REMOTE_FATAL;
        }
    } while (result == AC_REMOTE_OK && token);
    free(token);
    free(encoded_prefix);
    return result;
}

ac_remote_result ac_feed_remote_list(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
                                     char *err, size_t errlen)
{
    ac_remote_result result;

    *names = NULL;
    *count = 0;
    result = remote->kind == REMOTE_SFTP ? list_sftp(remote, pattern, names, count, err, errlen)
                                         : list_s3(remote, pattern, names, count, err, errlen);
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
    char *encoded = NULL, *url = NULL;
    long status = 0;
    CURLcode code;

    dynbuf_init(&dl.error_body, MAX_ERROR_BODY);
    if (snprintf(part_path, sizeof(part_path), "%s.part", dest_path) >= (int)sizeof(part_path)) {
        snprintf(err, errlen, "spool path for %s is too long", name);
        return AC_REMOTE_FATAL;
    }
    if (remote->kind == REMOTE_SFTP) {
        encoded = curl_easy_escape(remote->curl, name, 0);
        url = encoded ? concat(remote->base_url, encoded, NULL, NULL) : NULL;
    } else {
        char *key = concat(remote->prefix, name, NULL, NULL);
        encoded = key ? uri_encode(key, 1) : NULL;
        url = encoded ? concat(remote->object_base, "/", encoded, NULL) : NULL;
        free(key);
    }
    if (!url) {
        snprintf(err, errlen, "out of memory fetching %s%s", remote->name, name);
        goto out;
    }
    dl.file = fopen(part_path, "wb");
    if (!dl.file) {
        snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(errno));
        goto out;
    }
    prepare(remote, url, curl_error);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, write_download);
    curl_easy_setopt(remote->curl, CURLOPT_WRITEDATA, &dl);
    code = curl_easy_perform(remote->curl);
    if (dl.is_http)
        curl_easy_getinfo(remote->curl, CURLINFO_RESPONSE_CODE, &status);
    if (dl.write_failed) {
        snprintf(err, errlen, "cannot write spool file %s: %s", part_path, strerror(dl.write_failed));
        result = AC_REMOTE_RETRY;
    } else if (remote->kind == REMOTE_SFTP) {
        result = sftp_result(remote, code, curl_error, name, err, errlen);
    } else if (code != CURLE_OK) {
        snprintf(err, errlen, "%s%s: download failed: %s", remote->name, name,
                 curl_error[0] ? curl_error : curl_easy_strerror(code));
        result = AC_REMOTE_RETRY;
    } else if (status != 200) {
        result = s3_status_result(remote, status, dl.error_body.data, name, err, errlen);
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
    if (remote->kind == REMOTE_SFTP)
        curl_free(encoded);
    else
        free(encoded);
    free(url);
    dynbuf_free(&dl.error_body);
    return result;
}
