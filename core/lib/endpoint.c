/* endpoint.c: where a stage's links bind and connect (ipc, tcp, inproc),
 * the label a stage process goes by, and its statistics file name. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stage.h"

int sluice_stage_endpoints(const sluice_pipeline_def *pipeline, size_t index,
                           unsigned instance, int inproc, char *data, size_t data_len,
                           char *ack, size_t ack_len, char *errbuf, size_t errlen)
{
    const sluice_stage_def *stage = &pipeline->stages[index];
    const char *endpoint = stage->common.endpoint;
    int n1, n2;

    if (inproc) {
        n1 = snprintf(data, data_len, "inproc://%s.data", stage->name);
        n2 = snprintf(ack, ack_len, "inproc://%s.ack", stage->name);
    } else if (endpoint && strncmp(endpoint, "tcp://", 6) == 0) {
        const char *colon = strrchr(endpoint + 6, ':');
        char *end = NULL;
        long port;

        if (!colon) {
            snprintf(errbuf, errlen, "stage '%s': endpoint '%s' has no port", stage->name,
                     endpoint);
            return -1;
        }
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65534) {
            snprintf(errbuf, errlen,
                     "stage '%s': endpoint '%s' needs a port in 1..65534 (acks use port+1)",
                     stage->name, endpoint);
            return -1;
        }
        n1 = snprintf(data, data_len, "%s", endpoint);
        n2 = snprintf(ack, ack_len, "%.*s:%ld", (int)(colon - endpoint), endpoint, port + 1);
    } else if (endpoint) {
        n1 = snprintf(data, data_len, "%s", endpoint);
        n2 = snprintf(ack, ack_len, "%s.ack", endpoint);
    } else if (instance > 0) {
        n1 = snprintf(data, data_len, "ipc://%s/%s#%u.data", pipeline->runtime_dir,
                      stage->name, instance);
        n2 = snprintf(ack, ack_len, "ipc://%s/%s#%u.ack", pipeline->runtime_dir, stage->name,
                      instance);
    } else {
        n1 = snprintf(data, data_len, "ipc://%s/%s.data", pipeline->runtime_dir, stage->name);
        n2 = snprintf(ack, ack_len, "ipc://%s/%s.ack", pipeline->runtime_dir, stage->name);
    }
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= data_len || (size_t)n2 >= ack_len) {
        snprintf(errbuf, errlen, "stage '%s': endpoint name too long", stage->name);
        return -1;
    }
    return 0;
}

int sluice_stage_label(const sluice_pipeline_def *pipeline, size_t index, unsigned instance,
                       char *buf, size_t len)
{
    int n = instance > 0 ? snprintf(buf, len, "%s#%u", pipeline->stages[index].name, instance)
                         : snprintf(buf, len, "%s", pipeline->stages[index].name);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int sluice_stage_stats_path(const sluice_pipeline_def *pipeline, const char *label,
                            char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s.stats", pipeline->runtime_dir, label);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}
