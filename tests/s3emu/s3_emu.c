/* tests/s3emu/s3_emu.c: a small S3 emulator for tests (libmicrohttpd).
 *
 * Serves each subdirectory of --dir as a bucket, path style
 * (http://127.0.0.1:PORT/BUCKET/KEY): ListObjectsV2 (GET /BUCKET?list-type=2
 * with prefix, max-keys, continuation-token, start-after) and GetObject
 * (GET /BUCKET/KEY). Every request must carry a valid AWS Signature V4
 * (Authorization header, x-amz-date, x-amz-content-sha256) for the one
 * access key it knows; the signature is recomputed from what was received
 * (s3_sigv4.c) and a mismatch is answered 403 with S3's error XML
 * (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied, InvalidToken).
 *
 * Usage: s3-emu --dir DIR --access-key ID --secret-key SECRET
 *               [--port N] [--region R] [--session-token T]
 *               [--max-keys N] [--log FILE]
 * --port 0 picks a free port; the first stdout line is
 * "listening on 127.0.0.1:PORT". --max-keys caps the page size (to test
 * pagination). --log appends "METHOD PATH?QUERY STATUS" per request.
 * Stops cleanly on SIGTERM/SIGINT. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <microhttpd.h>

#include "s3_sigv4.h"

#define DEFAULT_MAX_KEYS 1000
#define MAX_QUERY_PARAMS 32

typedef struct emulator {
    const char *dir;
    const char *access_key;
    const char *secret_key;
    const char *region;
    const char *session_token;  /* NULL: none required */
    long max_keys_cap;
    FILE *log;
    pthread_mutex_t log_lock;
} emulator;

/* Append text with & < > " ' escaped. */
static void xml_add_escaped(s3_text *buf, const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '&': s3_text_add(buf, "&amp;"); break;
        case '<': s3_text_add(buf, "&lt;"); break;
        case '>': s3_text_add(buf, "&gt;"); break;
        case '"': s3_text_add(buf, "&quot;"); break;
        case '\'': s3_text_add(buf, "&apos;"); break;
        default: s3_text_append(buf, text, 1); break;
        }
    }
}

/* <name>escaped value</name> */
static void xml_element(s3_text *buf, const char *name, const char *value)
{
    s3_text_add(buf, "<");
    s3_text_add(buf, name);
    s3_text_add(buf, ">");
    xml_add_escaped(buf, value);
    s3_text_add(buf, "</");
    s3_text_add(buf, name);
    s3_text_add(buf, ">");
}

/* Queue `body` (copied) with `status` and Content-Type application/xml. */
static enum MHD_Result answer_xml(struct MHD_Connection *connection, unsigned int status, const char *body)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result result;

    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", "application/xml");
    result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

/* S3's error document: <Error><Code/><Message/><Resource/></Error>. */
static enum MHD_Result answer_error(struct MHD_Connection *connection, unsigned int status, const char *code,
                                    const char *message, const char *resource)
{
    s3_text buf = {0};
    enum MHD_Result result;

    s3_text_add(&buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    xml_element(&buf, "Code", code);
    xml_element(&buf, "Message", message);
    xml_element(&buf, "Resource", resource);
    xml_element(&buf, "RequestId", "S3EMU");
    s3_text_add(&buf, "</Error>\n");
    result = buf.failed ? MHD_NO : answer_xml(connection, status, buf.data);
    free(buf.data);
    return result;
}

static void log_request(emulator *emu, const char *method, const char *url, struct MHD_Connection *connection,
                        unsigned int status);

/* Query parameters collected from MHD (decoded; strings owned by MHD). */
typedef struct query_list {
    s3_query_param params[MAX_QUERY_PARAMS];
    size_t count;
    int overflow;
} query_list;

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    query_list *list = cls;

    (void)kind;
    if (list->count == MAX_QUERY_PARAMS) {
        list->overflow = 1;
        return MHD_NO;
    }
    list->params[list->count].name = key;
    list->params[list->count].value = value;
    list->count++;
    return MHD_YES;
}

static const char *query_value(const query_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->params[i].name, name) == 0)
            return list->params[i].value ? list->params[i].value : "";
    }
    return NULL;
}

static const char *connection_header(void *user, const char *name)
{
    return MHD_lookup_connection_value(user, MHD_HEADER_KIND, name);
}

/* Copy the Authorization field `key` ("Credential", "SignedHeaders",
 * "Signature") into out. Returns 0, -1 if absent or too long. */
static int auth_field(const char *authorization, const char *key, char *out, size_t outlen)
{
    size_t key_len = strlen(key);
    const char *p = authorization;

    while ((p = strstr(p, key)) != NULL) {
        int at_start = p == authorization || p[-1] == ' ' || p[-1] == ',';
        if (at_start && p[key_len] == '=') {
            const char *value = p + key_len + 1;
            size_t len = strcspn(value, ", ");
            if (len + 1 > outlen)
                return -1;
            memcpy(out, value, len);
            out[len] = '\0';
            return 0;
        }
        p += key_len;
    }
    return -1;
}

/* The canonical request on stderr to debug a mismatch, the session
 * token's value left out. */
static void print_canonical_request(const char *method, const char *url, const char *canonical)
{
    const char *line = canonical;

    fprintf(stderr, "s3-emu: signature mismatch for %s %s; canonical request was:\n", method, url);
    while (*line) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "x-amz-security-token:", 21) == 0)
            fprintf(stderr, "x-amz-security-token:(not shown)\n");
        else
            fprintf(stderr, "%.*s\n", (int)len, line);
        line += len;
        if (*line == '\n')
            line++;
    }
}

/* Check the request's SigV4 signature. Returns 0 when valid, else queues
 * the S3 error answer in *result, sets *status, and returns -1. */
static int verify_signature(emulator *emu, struct MHD_Connection *connection, const char *method, const char *url,
                            const query_list *query, enum MHD_Result *result, unsigned int *status)
{
    const char *authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
    const char *amz_date = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "x-amz-date");
    const char *payload_hash = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "x-amz-content-sha256");
    const char *token = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "x-amz-security-token");
    char credential[256], signed_headers[512], signature[128], expected[65], err[256];
    char scope_key[128], scope_date[16], scope_region[64], scope_service[32], scope_end[32];
    char *canonical = NULL;
    s3_sigv4_input in;

    *status = 403;
    if (!authorization || strncmp(authorization, "AWS4-HMAC-SHA256 ", 17) != 0) {
        *result = answer_error(connection, 403, "AccessDenied", "Access Denied (no AWS4-HMAC-SHA256 Authorization)", url);
        return -1;
    }
    if (!payload_hash) {
        *status = 400;
        *result = answer_error(connection, 400, "InvalidRequest",
                               "Missing required header for this request: x-amz-content-sha256", url);
        return -1;
    }
    if (auth_field(authorization, "Credential", credential, sizeof(credential)) != 0 ||
        auth_field(authorization, "SignedHeaders", signed_headers, sizeof(signed_headers)) != 0 ||
        auth_field(authorization, "Signature", signature, sizeof(signature)) != 0 || !amz_date) {
        *status = 400;
        *result = answer_error(connection, 400, "AuthorizationHeaderMalformed",
                               "The authorization header is malformed (Credential, SignedHeaders, Signature, x-amz-date)", url);
        return -1;
    }
    /* Credential = KEY/DATE/REGION/SERVICE/aws4_request */
    if (sscanf(credential, "%127[^/]/%15[^/]/%63[^/]/%31[^/]/%31s", scope_key, scope_date, scope_region,
               scope_service, scope_end) != 5 ||
        strcmp(scope_end, "aws4_request") != 0) {
        *status = 400;
        *result = answer_error(connection, 400, "AuthorizationHeaderMalformed", "The Credential scope is malformed", url);
        return -1;
    }
    if (strcmp(scope_key, emu->access_key) != 0) {
        *result = answer_error(connection, 403, "InvalidAccessKeyId",
                               "The AWS Access Key Id you provided does not exist in our records.", url);
        return -1;
    }
    if (strcmp(scope_region, emu->region) != 0 || strcmp(scope_service, "s3") != 0 ||
        strncmp(amz_date, scope_date, 8) != 0 || strlen(scope_date) != 8) {
        *status = 400;
        *result = answer_error(connection, 400, "AuthorizationHeaderMalformed",
                               "The Credential scope does not match this region, s3 or x-amz-date", url);
        return -1;
    }
    if (!strstr(signed_headers, "x-amz-content-sha256") || !strstr(signed_headers, "host")) {
        *result = answer_error(connection, 403, "AccessDenied", "host and x-amz-content-sha256 must be signed", url);
        return -1;
    }
    if (emu->session_token) {
        if (!token || strcmp(token, emu->session_token) != 0 || !strstr(signed_headers, "x-amz-security-token")) {
            *status = 400;
            *result = answer_error(connection, 400, "InvalidToken", "The provided token is malformed or otherwise invalid.", url);
            return -1;
        }
    }
    in.method = method;
    in.path = url;
    in.query = query->params;
    in.query_count = query->count;
    in.signed_headers = signed_headers;
    in.header = connection_header;
    in.header_user = connection;
    in.payload_hash = payload_hash;
    canonical = s3_canonical_request(&in, err, sizeof(err));
    if (!canonical) {
        *result = answer_error(connection, 403, "SignatureDoesNotMatch", err, url);
        return -1;
    }
    if (s3_sigv4_signature(emu->secret_key, amz_date, emu->region, "s3", canonical, expected) != 0 ||
        strcmp(expected, signature) != 0) {
        print_canonical_request(method, url, canonical);
        free(canonical);
        *result = answer_error(connection, 403, "SignatureDoesNotMatch",
                               "The request signature we calculated does not match the signature you provided. "
                               "Check your key and signing method.", url);
        return -1;
    }
    free(canonical);
    /* A GET has no body: its payload hash is that of the empty string. */
    if (strcmp(payload_hash, S3_EMPTY_SHA256) != 0 && strcmp(payload_hash, "UNSIGNED-PAYLOAD") != 0) {
        *status = 400;
        *result = answer_error(connection, 400, "XAmzContentSHA256Mismatch",
                               "The provided 'x-amz-content-sha256' header does not match what was computed.", url);
        return -1;
    }
    return 0;
}

/* The keys of a bucket: relative paths of regular files, sorted. */
typedef struct key_list {
    char **keys;
    size_t count, cap;
} key_list;

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* out = a "/" b (b alone when a is empty). Returns 0, -1 if too long. */
static int join_path(char *out, size_t outlen, const char *a, const char *b)
{
    int written = *a ? snprintf(out, outlen, "%s/%s", a, b) : snprintf(out, outlen, "%s", b);

    return written < 0 || (size_t)written >= outlen ? -1 : 0;
}

/* Add every regular file under root/relative to list. Returns 0 or -1. */
static int walk_bucket(const char *root, const char *relative, key_list *list)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *entry;
    int rc = 0;

    if (join_path(path, sizeof(path), root, relative) != 0)
        return -1;
    dir = opendir(path);
    if (!dir)
        return -1;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        char child[PATH_MAX], full[PATH_MAX];
        struct stat st;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (join_path(child, sizeof(child), relative, entry->d_name) != 0 ||
            join_path(full, sizeof(full), root, child) != 0 || stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk_bucket(root, child, list);
        } else if (S_ISREG(st.st_mode)) {
            if (list->count == list->cap) {
                size_t cap = list->cap ? list->cap * 2 : 64;
                char **grown = realloc(list->keys, cap * sizeof(*grown));
                if (!grown) {
                    rc = -1;
                    break;
                }
                list->keys = grown;
                list->cap = cap;
            }
            list->keys[list->count] = strdup(child);
            if (!list->keys[list->count])
                rc = -1;
            else
                list->count++;
        }
    }
    closedir(dir);
    return rc;
}

static void free_keys(key_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->keys[i]);
    free(list->keys);
}

/* Continuation tokens are the hex of the last key returned: opaque to the
 * client, and any key survives the round trip. */
static void token_of(const char *key, char *out, size_t outlen)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)key; *p && n + 3 <= outlen; p++) {
        out[n++] = digits[*p >> 4];
        out[n++] = digits[*p & 15];
    }
    out[n] = '\0';
}

/* Decode a token into out. Returns 0, -1 if it is not one of ours. */
static int key_of_token(const char *token, char *out, size_t outlen)
{
    size_t len = strlen(token);

    if (len % 2 != 0 || len / 2 + 1 > outlen)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        char pair[3] = {token[2 * i], token[2 * i + 1], '\0'};
        char *end = NULL;
        long byte = strtol(pair, &end, 16);
        if (!end || *end != '\0' || byte <= 0)
            return -1;
        out[i] = (char)byte;
    }
    out[len / 2] = '\0';
    return 0;
}

/* ListObjectsV2 of `bucket`. */
static enum MHD_Result list_objects(emulator *emu, struct MHD_Connection *connection, const char *bucket,
                                    const query_list *query, unsigned int *status)
{
    const char *prefix = query_value(query, "prefix");
    const char *max_keys_text = query_value(query, "max-keys");
    const char *token = query_value(query, "continuation-token");
    const char *start_after = query_value(query, "start-after");
    char root[PATH_MAX], after[1024] = "", number[32], next_token[2048] = "";
    key_list list = {0};
    s3_text buf = {0};
    long max_keys = DEFAULT_MAX_KEYS;
    size_t first, returned = 0, i;
    enum MHD_Result result;

    if (!prefix)
        prefix = "";
    if (max_keys_text) {
        char *end = NULL;
        errno = 0;
        max_keys = strtol(max_keys_text, &end, 10);
        if (errno != 0 || !end || *end != '\0' || end == max_keys_text || max_keys < 0) {
            *status = 400;
            return answer_error(connection, 400, "InvalidArgument", "max-keys is not a non-negative integer", bucket);
        }
    }
    if (max_keys > DEFAULT_MAX_KEYS)
        max_keys = DEFAULT_MAX_KEYS;
    if (emu->max_keys_cap > 0 && max_keys > emu->max_keys_cap)
        max_keys = emu->max_keys_cap;
    if (token && key_of_token(token, after, sizeof(after)) != 0) {
        *status = 400;
        return answer_error(connection, 400, "InvalidArgument", "The continuation token provided is incorrect", bucket);
    }
    if (!token && start_after)
        snprintf(after, sizeof(after), "%s", start_after);
    if (join_path(root, sizeof(root), emu->dir, bucket) != 0 || walk_bucket(root, "", &list) != 0) {
        free_keys(&list);
        *status = 500;
        return answer_error(connection, 500, "InternalError", "cannot read the bucket directory", bucket);
    }
    if (list.count > 1)
        qsort(list.keys, list.count, sizeof(*list.keys), key_cmp);
    for (first = 0; first < list.count; first++) {
        if (strcmp(list.keys[first], after) > 0)
            break;
    }
    s3_text_add(&buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    xml_element(&buf, "Name", bucket);
    xml_element(&buf, "Prefix", prefix);
    if (token)
        xml_element(&buf, "ContinuationToken", token);
    if (start_after)
        xml_element(&buf, "StartAfter", start_after);
    for (i = first; i < list.count; i++) {
        char full[PATH_MAX], stamp[32], etag[64], size[32];
        struct stat st;
        struct tm tm;

        if (strncmp(list.keys[i], prefix, strlen(prefix)) != 0)
            continue;
        if ((long)returned == max_keys) {
            token_of(list.keys[i - 1], next_token, sizeof(next_token));
            break;
        }
        if (join_path(full, sizeof(full), root, list.keys[i]) != 0 || stat(full, &st) != 0)
            continue;
        gmtime_r(&st.st_mtime, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtime);
        snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
        s3_text_add(&buf, "<Contents>");
        xml_element(&buf, "Key", list.keys[i]);
        xml_element(&buf, "LastModified", stamp);
        xml_element(&buf, "ETag", etag);
        xml_element(&buf, "Size", size);
        xml_element(&buf, "StorageClass", "STANDARD");
        s3_text_add(&buf, "</Contents>");
        returned++;
    }
    snprintf(number, sizeof(number), "%zu", returned);
    xml_element(&buf, "KeyCount", number);
    snprintf(number, sizeof(number), "%ld", max_keys);
    xml_element(&buf, "MaxKeys", number);
    xml_element(&buf, "IsTruncated", *next_token ? "true" : "false");
    if (*next_token)
        xml_element(&buf, "NextContinuationToken", next_token);
    s3_text_add(&buf, "</ListBucketResult>\n");
    free_keys(&list);
    if (buf.failed) {
        free(buf.data);
        *status = 500;
        return MHD_NO;
    }
    *status = 200;
    result = answer_xml(connection, 200, buf.data);
    free(buf.data);
    return result;
}

/* GetObject: the file's bytes. */
static enum MHD_Result get_object(emulator *emu, struct MHD_Connection *connection, const char *bucket,
                                  const char *key, const char *url, unsigned int *status)
{
    char path[PATH_MAX];
    struct stat st;
    struct MHD_Response *response;
    enum MHD_Result result;
    int fd;

    if (strstr(key, "..") || key[0] == '/') {
        *status = 400;
        return answer_error(connection, 400, "InvalidArgument", "key not served by this emulator", url);
    }
    fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s/%s", emu->dir, bucket, key) < (int)sizeof(path))
        fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        *status = 404;
        return answer_error(connection, 404, "NoSuchKey", "The specified key does not exist.", url);
    }
    response = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!response) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(response, "Content-Type", "application/octet-stream");
    *status = 200;
    result = MHD_queue_response(connection, 200, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **request_state)
{
    emulator *emu = cls;
    static int first_call_marker;
    query_list query = {0};
    char bucket[256], root[PATH_MAX];
    const char *key;
    size_t bucket_len;
    struct stat st;
    unsigned int status = 500;
    enum MHD_Result result;

    (void)version;
    (void)upload_data;
    if (*request_state == NULL) {
        *request_state = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* bodies are ignored: only GET is served */
        return MHD_YES;
    }
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_query, &query);
    if (query.overflow) {
        status = 400;
        result = answer_error(connection, 400, "InvalidArgument", "too many query parameters", url);
        goto out;
    }
    if (verify_signature(emu, connection, method, url, &query, &result, &status) != 0)
        goto out;
    if (strcmp(method, "GET") != 0) {
        status = 405;
        result = answer_error(connection, 405, "MethodNotAllowed", "only GET is emulated", url);
        goto out;
    }
    /* Path style: /BUCKET[/KEY] */
    bucket_len = strcspn(url + 1, "/");
    if (url[0] != '/' || bucket_len == 0 || bucket_len >= sizeof(bucket)) {
        status = 400;
        result = answer_error(connection, 400, "InvalidBucketName", "no bucket in the path", url);
        goto out;
    }
    memcpy(bucket, url + 1, bucket_len);
    bucket[bucket_len] = '\0';
    key = url + 1 + bucket_len;
    if (*key == '/')
        key++;
    if (bucket[0] == '.' || join_path(root, sizeof(root), emu->dir, bucket) != 0 || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        status = 404;
        result = answer_error(connection, 404, "NoSuchBucket", "The specified bucket does not exist", bucket);
        goto out;
    }
    if (*key == '\0') {
        const char *list_type = query_value(&query, "list-type");
        if (!list_type || strcmp(list_type, "2") != 0) {
            status = 400;
            result = answer_error(connection, 400, "InvalidArgument", "only ListObjectsV2 (list-type=2) is emulated", url);
            goto out;
        }
        result = list_objects(emu, connection, bucket, &query, &status);
    } else {
        result = get_object(emu, connection, bucket, key, url, &status);
    }
out:
    log_request(emu, method, url, connection, status);
    return result;
}

/* Append "METHOD URL?QUERY STATUS" to the log, if any. */
static void log_request(emulator *emu, const char *method, const char *url, struct MHD_Connection *connection,
                        unsigned int status)
{
    const char *prefix = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "prefix");
    const char *token = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "continuation-token");

    if (!emu->log)
        return;
    pthread_mutex_lock(&emu->log_lock);
    fprintf(emu->log, "%s %s%s%s%s%s %u\n", method, url, prefix ? " prefix=" : "", prefix ? prefix : "",
            token ? " continuation-token=" : "", token ? token : "", status);
    fflush(emu->log);
    pthread_mutex_unlock(&emu->log_lock);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: s3-emu --dir DIR --access-key ID --secret-key SECRET [--port N] [--region R]\n"
                "              [--session-token T] [--max-keys N] [--log FILE]\n"
                "Serves each subdirectory of DIR as an S3 bucket (path style) on 127.0.0.1,\n"
                "ListObjectsV2 and GetObject, every request checked for a valid SigV4 signature.\n");
}

/* strtol with full checks into *out within [min, max]. Returns 0 or -1. */
static int parse_long(const char *flag, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "s3-emu: %s wants an integer in [%ld, %ld], not '%s'\n", flag, min, max, text);
        return -1;
    }
    *out = value;
    return 0;
}

int main(int argc, char **argv)
{
    emulator emu = {.region = "us-east-1"};
    const char *log_path = NULL;
    long port = 0;
    struct sockaddr_in addr;
    struct MHD_Daemon *daemon = NULL;
    const union MHD_DaemonInfo *info;
    sigset_t signals;
    int signal_number, rc = 2;

    pthread_mutex_init(&emu.log_lock, NULL);
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!value) {
            fprintf(stderr, "s3-emu: %s needs a value\n", flag);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(flag, "--dir") == 0) {
            emu.dir = value;
        } else if (strcmp(flag, "--access-key") == 0) {
            emu.access_key = value;
        } else if (strcmp(flag, "--secret-key") == 0) {
            emu.secret_key = value;
        } else if (strcmp(flag, "--region") == 0) {
            emu.region = value;
        } else if (strcmp(flag, "--session-token") == 0) {
            emu.session_token = value;
        } else if (strcmp(flag, "--log") == 0) {
            log_path = value;
        } else if (strcmp(flag, "--port") == 0) {
            if (parse_long(flag, value, 0, 65535, &port) != 0)
                return 2;
        } else if (strcmp(flag, "--max-keys") == 0) {
            if (parse_long(flag, value, 1, DEFAULT_MAX_KEYS, &emu.max_keys_cap) != 0)
                return 2;
        } else {
            fprintf(stderr, "s3-emu: unknown flag %s\n", flag);
            usage(stderr);
            return 2;
        }
    }
    if (!emu.dir || !emu.access_key || !emu.secret_key) {
        fprintf(stderr, "s3-emu: --dir, --access-key and --secret-key are required\n");
        usage(stderr);
        return 2;
    }
    if (log_path) {
        emu.log = fopen(log_path, "a");
        if (!emu.log) {
            fprintf(stderr, "s3-emu: cannot open log %s: %s\n", log_path, strerror(errno));
            return 2;
        }
    }
    /* Signals are taken by sigwait below, not by MHD's threads. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                              0, NULL, NULL, handle, &emu, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "s3-emu: cannot listen on 127.0.0.1:%ld\n", port);
        goto out;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info) {
        fprintf(stderr, "s3-emu: cannot tell the port it listens on\n");
        goto out;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)info->port);
    fflush(stdout);
    sigwait(&signals, &signal_number);
    rc = 0;
out:
    if (daemon)
        MHD_stop_daemon(daemon);
    if (emu.log)
        fclose(emu.log);
    pthread_mutex_destroy(&emu.log_lock);
    return rc;
}
