/* annexcloud_webhook_sink.c: annexcloud-webhook-sink, a test receiver recording every webhook POST to a JSON-lines file. */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_common.h"

typedef struct sink {
    const char *out_path;
    const char *signature_header;
    long fail_first;     /* answer 500 to the first K posts */
    long received;
    FILE *out;
} sink;

static const char USAGE[] =
    "usage: annexcloud-webhook-sink --out FILE [--port N] [--fail-first K] [--sig-header NAME] [fault flags]\n"
    "Accepts POST /hook and appends one line per request to FILE:\n"
    "  {\"n\":N,\"status\":S,\"signature\":..,\"authorization\":..,\"content_type\":..,\"body\":\"raw body\"}\n"
    "The first K requests are answered 500 (to exercise the sender's retries), later ones 200.\n";

static int parse_flag(void *user, const char *flag, const char *value)
{
    sink *s = user;
    if (!value) {
        fprintf(stderr, "annexcloud-webhook-sink: unknown flag or missing value: %s\n", flag);
        return -1;
    }
    if (strcmp(flag, "--out") == 0) {
        s->out_path = value;
    } else if (strcmp(flag, "--sig-header") == 0) {
        s->signature_header = value;
    } else if (strcmp(flag, "--fail-first") == 0) {
        char *end = NULL;
        errno = 0;
        s->fail_first = strtol(value, &end, 10);
        if (errno || end == value || *end || s->fail_first < 0) {
            fprintf(stderr, "annexcloud-webhook-sink: --fail-first must be a count, not '%s'\n", value);
            return -1;
        }
    } else {
        fprintf(stderr, "annexcloud-webhook-sink: unknown flag: %s\n", flag);
        return -1;
    }
    return 2;
}

static void handle_hook(emu_server *srv, const emu_request *req, emu_response *resp, void *user)
{
    sink *s = user;
    emu_lock(srv);
    long n = ++s->received;
    int status = n <= s->fail_first ? 500 : 200;
    const char *signature = emu_header(req, s->signature_header);
    const char *authorization = emu_header(req, "Authorization");
    const char *content_type = emu_header(req, "Content-Type");
    json_t *line = json_pack("{s:I,s:i,s:s?,s:s?,s:s?,s:s%}", "n", (json_int_t)n, "status", status, "signature",
                             signature, "authorization", authorization, "content_type", content_type, "body",
                             req->body, req->body_len);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text) {
        fprintf(s->out, "%s\n", text);
        fflush(s->out);
    }
    free(text);
    json_decref(line);
    emu_unlock(srv);
    emu_respond_pack(resp, status, "{s:s}", "status", status == 200 ? "ok" : "injected failure");
}

int main(int argc, char **argv)
{
    sink s = {NULL, "X-AnnexCloud-Signature", 0, 0, NULL};
    emu_config config;
    emu_server *srv = NULL;
    int exit_code = 1;
    int parsed = emu_parse_args(argc, argv, &config, USAGE, parse_flag, &s);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    if (!s.out_path) {
        fprintf(stderr, "annexcloud-webhook-sink: --out is required\n%s", USAGE);
        return 2;
    }
    s.out = fopen(s.out_path, "a");
    if (!s.out) {
        fprintf(stderr, "annexcloud-webhook-sink: %s: %s\n", s.out_path, strerror(errno));
        return 1;
    }
    emu_hooks hooks = {NULL, NULL, NULL};
    srv = emu_server_new("annexcloud-webhook-sink", &config, &hooks, &s);
    if (!srv || emu_route(srv, "POST", "/hook", handle_hook) != 0)
        goto out;
    exit_code = emu_run(srv) == 0 ? 0 : 1;
out:
    emu_server_free(&srv);
    fclose(s.out);
    return exit_code;
}
