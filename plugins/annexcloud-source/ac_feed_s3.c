/* ac_feed_s3.c: feed mode's s3:// locations (libcurl with AWS SigV4,
 * CURLOPT_AWS_SIGV4): ListObjectsV2 pages (continuation-token) and GETs,
 * the listing's XML read with a small scanner (only Key, IsTruncated,
 * NextContinuationToken matter), and the verdict of an S3 error answer.
 * The shared part (open, list, fetch) is ac_feed_remote.c. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ac_feed_transport.h"
#include "util/dynbuf.h"

#define EMPTY_PAYLOAD_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_LIST_PAGES 100000

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

/* ac_s3_open: see ac_feed_transport.h. */
int ac_s3_open(ac_feed_remote *remote, const ac_feed_remote_options *options, char *err, size_t errlen)
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
            remote->object_base = endpoint ? ac_feed_concat(endpoint, "/", remote->bucket, NULL) : NULL;
            free(endpoint);
        }
    } else {
        remote->object_base = ac_feed_concat("https://", remote->bucket, ".s3.", region);
        if (remote->object_base) {
            char *full = ac_feed_concat(remote->object_base, ".amazonaws.com", NULL, NULL);
            free(remote->object_base);
            remote->object_base = full;
        }
    }
    if (!remote->object_base)
        return -1;
    remote->list_url = ac_feed_concat(remote->object_base, "/", NULL, NULL);
    remote->sigv4 = ac_feed_concat("aws:amz:", region, ":s3", NULL);
    remote->access_key_id = ac_feed_copy_optional(options->s3_access_key_id, &failed);
    remote->secret_access_key = ac_feed_copy_optional(options->s3_secret_access_key, &failed);
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

/* ac_s3_prepare: see ac_feed_transport.h. */
void ac_s3_prepare(ac_feed_remote *remote)
{
    CURL *curl = remote->curl;

#if LIBCURL_VERSION_NUM >= 0x074b00
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, remote->sigv4);
#endif
    curl_easy_setopt(curl, CURLOPT_USERNAME, remote->access_key_id);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, remote->secret_access_key);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, remote->headers);
}

/* ac_s3_object_url: see ac_feed_transport.h. */
char *ac_s3_object_url(ac_feed_remote *remote, const char *name)
{
    char *key = ac_feed_concat(remote->prefix, name, NULL, NULL);
    char *encoded = key ? uri_encode(key, 1) : NULL;
    char *url = encoded ? ac_feed_concat(remote->object_base, "/", encoded, NULL) : NULL;

    free(key);
    free(encoded);
    return url;
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

/* ac_s3_status_result: see ac_feed_transport.h. */
ac_remote_result ac_s3_status_result(ac_feed_remote *remote, long status, const char *body, const char *what,
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

/* ac_s3_parse_listing: see ac_feed_remote.h. */
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
        if (ac_feed_names_push(keys, count, xml_unescape(key, (size_t)(key_end - key))) != 0)
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

/* ac_s3_list: see ac_feed_transport.h. */
ac_remote_result ac_s3_list(ac_feed_remote *remote, const char *pattern, char ***names, size_t *count,
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

        dynbuf_init(&page, AC_FEED_MAX_LISTING_BYTES);
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
        ac_feed_prepare(remote, url, curl_error);
        curl_easy_setopt(remote->curl, CURLOPT_WRITEFUNCTION, ac_feed_write_to_buffer);
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
            result = ac_s3_status_result(remote, status, page.data, "list", err, errlen);
        } else if (!page.data || ac_s3_parse_listing(page.data, &keys, &key_count, &truncated, &next_token) != 0) {
            snprintf(err, errlen, "%s: the ListObjectsV2 answer is not a listing I can read", remote->name);
            result = AC_REMOTE_RETRY;
        } else if (truncated && (!next_token || !*next_token)) {
            snprintf(err, errlen, "%s: listing truncated without a NextContinuationToken", remote->name);
            result = AC_REMOTE_FATAL;
        }
        for (size_t i = 0; result == AC_REMOTE_OK && i < key_count; i++) {
            const char *name = keys[i] + (strncmp(keys[i], remote->prefix, prefix_len) == 0 ? prefix_len : 0);
            if (ac_feed_wanted(name, pattern) && ac_feed_names_push(names, count, strdup(name)) != 0) {
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
