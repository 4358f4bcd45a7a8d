/* unit_support.h: helpers several unit tests (Check) share instead of
 * each carrying its own copy: a loopback socket on a port the kernel
 * chooses, a stage context for driving the SDK's HTTP client or a sink's
 * callbacks outside a runner, a temporary tree's removal, a thread's
 * voluntary context switches, and a feeder that pushes wire frames to a
 * running stage and reads its acks over ZeroMQ. Each helper fails the
 * calling test (ck_assert) when it cannot do its job. Implemented in
 * unit_support.c and (the feeder, linked with ZeroMQ) unit_feed.c; the
 * libmicrohttpd server is in unit_httpd.h. */
#ifndef SLUICE_UNIT_SUPPORT_H
#define SLUICE_UNIT_SUPPORT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"
#include "pipeline.h"

/* A TCP socket bound to 127.0.0.1 on a port the kernel chose (*port),
 * listening with `backlog` when backlog > 0 (it never accepts: the kernel
 * completes connections). Returns the socket (caller closes); closing it
 * at once leaves a port nothing listens on. */
int unit_loopback_socket(int backlog, unsigned short *port);

/* Fill a one-stage pipeline and a context over it for calling the SDK's
 * HTTP client or a plugin's callbacks in-process: pipeline
 * "test-pipeline" (state_dir /tmp), stage `stage_name` of plugin
 * `plugin_name`, HTTP timeout 60 s, TLS verified, `max_attempts`
 * attempts with backoff up to `max_backoff_ms`, stopping on *stop_flag
 * (cleared). Everything else zero; the test sets what it needs on top.
 * All four are the caller's (usually static); free ctx->http with
 * sluice_http_client_free when done. */
void unit_stage_setup(sluice_pipeline_def *pipeline, sluice_stage_def *stage, sluice_ctx *ctx,
                      volatile sig_atomic_t *stop_flag, const char *stage_name,
                      const char *plugin_name, int max_attempts, long max_backoff_ms);

/* Remove the directory tree `dir` (a test's temporary directory), not
 * following links; what cannot be removed is left. */
void unit_remove_tree(const char *dir);

/* The calling thread's kernel id (for unit_voluntary_switches). */
pid_t unit_thread_id(void);

/* Voluntary context switches of thread `tid` of this process so far (from
 * /proc/self/task/TID/status), or -1 when unreadable: a sleep adds one,
 * being preempted on a busy machine does not, so a test can tell that a
 * thread waited without timing it. */
long unit_voluntary_switches(pid_t tid);

/* The upstream side of stage `index` of `pipeline` as a runner sees it:
 * *push connected to its data endpoint, *pull to its ack endpoint (300 ms
 * receive timeout), sockets of `zctx`. Close both with zmq_close. */
void unit_feed_connect(const sluice_pipeline_def *pipeline, size_t index, void *zctx,
                       void **push, void **pull);

/* Send on `push` the frame of batch (epoch, id) holding one record
 * {"n": n}. */
void unit_feed_send(void *push, uint64_t epoch, uint64_t id, long n);
#endif
