/* service_notify.c: the fleet's news for systemd (service_notify.h). The
 * STATUS= line is made from the fleet's snapshot, the same the admin
 * endpoint shows. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "service_notify.h"

/* The fleet in a line: "N pipelines running[, N refused][, N failed][, N
 * finished]", into buf (len bytes); "" when out of memory. */
static void status_line(char *buf, size_t len)
{
    sluice_fleet_snapshot snap;
    size_t running = 0, refused = 0, failed = 0, finished = 0;
    int used;

    buf[0] = '\0';
    if (sluice_fleet_snapshot_get(&snap) != 0)
        return;
    for (size_t i = 0; i < snap.count; i++) {
        const sluice_fleet_pipeline *p = &snap.pipelines[i];

        switch (p->state) {
        case SLUICE_FLEET_STARTING:
        case SLUICE_FLEET_RUNNING:
        case SLUICE_FLEET_DRAINING: running++; break;
        case SLUICE_FLEET_FAILED: failed++; break;
        case SLUICE_FLEET_REFUSED: refused++; break;
        case SLUICE_FLEET_STOPPED: finished++; break;
        }
        if (p->refused_reload)
            refused++;
    }
    sluice_fleet_snapshot_free(&snap);
    used = snprintf(buf, len, "%zu pipeline%s running", running, running == 1 ? "" : "s");
    if (refused && used >= 0 && (size_t)used < len)
        used += snprintf(buf + used, len - (size_t)used, ", %zu refused", refused);
    if (failed && used >= 0 && (size_t)used < len)
        used += snprintf(buf + used, len - (size_t)used, ", %zu failed", failed);
    if (finished && used >= 0 && (size_t)used < len)
        snprintf(buf + used, len - (size_t)used, ", %zu finished", finished);
}

/* Send `message` to systemd (nothing without libsystemd). */
static void send_message(const char *message)
{
#ifdef HAVE_LIBSYSTEMD
    int rc = sd_notify(0, message);

    if (rc < 0)
        sluice_log_write(NULL, NULL, SLUICE_LOG_DEBUG, "sd_notify: %s", strerror(-rc));
#else
    (void)message;
#endif
}

void sluice_service_notify(sluice_fleet_event event, void *cls)
{
    static char last_status[256];
    char status[256];
    char message[512];
    struct timespec now;
    const char *socket_path = getenv("NOTIFY_SOCKET");

    (void)cls;
    if (!socket_path || !socket_path[0])
        return;
    switch (event) {
    case SLUICE_FLEET_RELOADING:
        clock_gettime(CLOCK_MONOTONIC, &now);
        snprintf(message, sizeof(message), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
                 (unsigned long long)now.tv_sec * 1000000ULL +
                     (unsigned long long)now.tv_nsec / 1000ULL);
        snprintf(last_status, sizeof(last_status), "reloading");
        break;
    case SLUICE_FLEET_STOPPING:
        snprintf(message, sizeof(message), "STOPPING=1\nSTATUS=stopping: draining every "
                                           "pipeline");
        snprintf(last_status, sizeof(last_status), "stopping");
        break;
    case SLUICE_FLEET_READY:
        status_line(status, sizeof(status));
        snprintf(message, sizeof(message), "READY=1\nSTATUS=%s", status);
        snprintf(last_status, sizeof(last_status), "%s", status);
        break;
    default:
        if (strcmp(last_status, "stopping") == 0 || strcmp(last_status, "reloading") == 0)
            return;
        status_line(status, sizeof(status));
        if (!status[0] || strcmp(status, last_status) == 0)
            return;
        snprintf(message, sizeof(message), "STATUS=%s", status);
        snprintf(last_status, sizeof(last_status), "%s", status);
        break;
    }
    send_message(message);
}
