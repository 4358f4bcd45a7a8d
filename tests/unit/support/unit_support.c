/* unit_support.c: the loopback socket, the stage context, the tree
 * removal and the context-switch count of unit_support.h, shared by the
 * unit tests that link it. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "unit_support.h"

/* unit_loopback_socket: see unit_support.h. */
int unit_loopback_socket(int backlog, unsigned short *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    if (backlog > 0)
        ck_assert_int_eq(listen(fd, backlog), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* unit_stage_setup: see unit_support.h. */
void unit_stage_setup(sluice_pipeline_def *pipeline, sluice_stage_def *stage, sluice_ctx *ctx,
                      volatile sig_atomic_t *stop_flag, const char *stage_name,
                      const char *plugin_name, int max_attempts, long max_backoff_ms)
{
    *stop_flag = 0;
    memset(pipeline, 0, sizeof(*pipeline));
    memset(stage, 0, sizeof(*stage));
    pipeline->name = (char *)"test-pipeline";
    pipeline->state_dir = (char *)"/tmp";
    pipeline->stages = stage;
    pipeline->stage_count = 1;
    stage->name = (char *)stage_name;
    stage->plugin_name = (char *)plugin_name;
    stage->common.http_timeout_ms = 60000;
    stage->common.http_max_attempts = max_attempts;
    stage->common.retry_max_backoff_ms = max_backoff_ms;
    stage->common.tls_verify = 1;
    memset(ctx, 0, sizeof(*ctx));
    ctx->pipeline = pipeline;
    ctx->stage = stage;
    ctx->stopping = stop_flag;
}

/* nftw callback of unit_remove_tree: remove one entry (children first). */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* unit_remove_tree: see unit_support.h. */
void unit_remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* unit_thread_id: see unit_support.h. */
pid_t unit_thread_id(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* unit_voluntary_switches: see unit_support.h. */
long unit_voluntary_switches(pid_t tid)
{
    char path[64], line[128];
    long count = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)tid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0) {
            char *end = NULL;
            long value = strtol(line + 24, &end, 10);
            if (end != line + 24)
                count = value;
            break;
        }
    }
    fclose(f);
    return count;
}
