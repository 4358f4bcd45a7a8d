/* unit_feed.c: the ZeroMQ feeder of unit_support.h (a runner's upstream
 * side of a stage), for the unit tests that run stages in threads. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <jansson.h>
#include <zmq.h>

#include "batch.h"
#include "stage.h"
#include "unit_support.h"

/* unit_feed_connect: see unit_support.h. */
void unit_feed_connect(const sluice_pipeline_def *pipeline, size_t index, void *zctx,
                       void **push, void **pull)
{
    char data[SLUICE_ENDPOINT_MAX], ack[SLUICE_ENDPOINT_MAX], err[256];
    int timeout = 300;

    ck_assert_msg(sluice_stage_endpoints(pipeline, index, 0, 0, data, sizeof(data), ack,
                                         sizeof(ack), err, sizeof(err)) == 0, "%s", err);
    *push = zmq_socket(zctx, ZMQ_PUSH);
    *pull = zmq_socket(zctx, ZMQ_PULL);
    ck_assert_ptr_nonnull(*push);
    ck_assert_ptr_nonnull(*pull);
    ck_assert_int_eq(zmq_connect(*push, data), 0);
    ck_assert_int_eq(zmq_connect(*pull, ack), 0);
    zmq_setsockopt(*pull, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
}

/* unit_feed_send: see unit_support.h. */
void unit_feed_send(void *push, uint64_t epoch, uint64_t id, long n)
{
    sluice_batch *b = sluice_batch_new(epoch, id, 10);
    size_t len = 0;
    char *frame;

    ck_assert_ptr_nonnull(b);
    sluice_batch_append(b, json_pack("{s:i}", "n", (int)n));
    frame = sluice_wire_encode(b, &len);
    ck_assert_ptr_nonnull(frame);
    ck_assert_int_eq(zmq_send(push, frame, len, 0), (int)len);
    free(frame);
    sluice_batch_destroy(&b);
}
