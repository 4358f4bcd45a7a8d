/* service_notify.h: what `sluice run` tells systemd about its fleet
 * (sd_notify: READY=1, RELOADING=1, STOPPING=1, STATUS=), when built with
 * libsystemd and started with NOTIFY_SOCKET set (Type=notify). Implemented
 * in service_notify.c. */
#ifndef SLUICE_SERVICE_NOTIFY_H
#define SLUICE_SERVICE_NOTIFY_H

#include "fleet.h"

/* The fleet's watcher (sluice_fleet_options.notify; `cls` unused): READY=1
 * with a STATUS= line ("3 pipelines running, 1 refused") once every
 * pipeline has started or been refused and after each reload, RELOADING=1
 * (with MONOTONIC_USEC=) when a reload begins, STOPPING=1 at the first
 * stop signal, and a new STATUS= whenever the line changes. Does nothing
 * without NOTIFY_SOCKET in the environment or when sluice was built
 * without libsystemd; a failed send is logged at debug and otherwise
 * ignored (systemd then times the start out, which says more). */
void sluice_service_notify(sluice_fleet_event event, void *cls);
#endif
