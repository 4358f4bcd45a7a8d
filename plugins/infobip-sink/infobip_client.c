/* infobip_client.c: one Infobip People API call through the core's HTTP
 * client (retry, backoff, Retry-After and per-endpoint token buckets are
 * the core's), with Infobip's error shapes reduced to one message. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infobip.h"

char *infobip_error_text(const json_t *error, char *buf, size_t buflen)
{
    const json_t *exception, *details;
    const char *code = NULL, *text = NULL;
    size_t used;

    buf[0] = '\0';
    if (!json_is_object(error))
        return buf;
    exception = json_object_get(json_object_get(error, "requestError"), "serviceException");
    if (json_is_object(exception)) {
        code = json_string_value(json_object_get(exception, "messageId"));
        text = json_string_value(json_object_get(exception, "text"));
    } else {
        code = json_string_value(json_object_get(error, "code"));
        if (!code)
            code = json_string_value(json_object_get(error, "errorCode"));
        text = json_string_value(json_object_get(error, "message"));
        if (!text)
            text = json_string_value(json_object_get(error, "description"));
    }
    snprintf(buf, buflen, "%s%s%s", code ? code : "", code && text ? ": " : "", text ? text : "");
    /* Per-property details say which field was wrong. */
    details = json_object_get(error, "details");
    if (json_is_array(details)) {
        size_t i;
        json_t *detail;
        json_array_foreach(details, i, detail) {
            const char *property = json_string_value(json_object_get(detail, "property"));
            const char *message = json_string_value(json_object_get(detail, "message"));
            used = strlen(buf);
            if (used + 4 >= buflen)
                break;
            snprintf(buf + used, buflen - used, " (%s%s%s)", property ? property : "",
                     property && message ? ": " : "", message ? message : "");
        }
    }
    if (buf[0] == '\0')
        snprintf(buf, buflen, "no error text in the answer");
    return buf;
}

void infobip_reply_clear(infobip_reply *reply)
{
    json_decref(reply->body);
    memset(reply, 0, sizeof(*reply));
}

sluice_http_class infobip_call(sluice_ctx *ctx, infobip_sink *sink, const char *method,
                               const char *path, const json_t *payload, const char *bucket,
                               infobip_reply *reply)
{
    char url[2048];
    char *body = NULL;
    sluice_http_header headers[3] = {
        {"Authorization", sink->auth_header},
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
    };
    sluice_http_request req;
    sluice_http_response resp;
    json_error_t error;

    memset(reply, 0, sizeof(*reply));
    memset(&resp, 0, sizeof(resp));
    snprintf(url, sizeof(url), "%s%s", sink->base_url, path);
    if (payload) {
        body = json_dumps(payload, JSON_COMPACT);
        if (!body) {
            reply->cls = SLUICE_HTTP_REJECTED;
            snprintf(reply->message, sizeof(reply->message), "cannot encode the request body");
            return reply->cls;
        }
    }
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.header_count = payload ? 3 : 1;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.throttle = bucket;

    reply->cls = sluice_http(ctx, &req, &resp);
    reply->status = resp.status;
    if (resp.body && resp.body_len > 0)
        reply->body = json_loadb(resp.body, resp.body_len, 0, &error);
    if (reply->cls != SLUICE_HTTP_SUCCESS) {
        if (resp.status == 0)
            snprintf(reply->message, sizeof(reply->message), "%s", resp.error);
        else if (reply->body)
            infobip_error_text(reply->body, reply->message, sizeof(reply->message));
        else
            snprintf(reply->message, sizeof(reply->message), "HTTP %ld", resp.status);
    }
    sluice_http_response_clear(&resp);
    free(body);
    return reply->cls;
}
