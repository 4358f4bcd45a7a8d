/* unit_httpd.h: a libmicrohttpd server on 127.0.0.1 for the unit tests
 * that talk real HTTP to a handler of their own (the SDK client's tests,
 * a sink's write() driven directly). Implemented in unit_httpd.c, linked
 * with $(MHD_LIBS) by the tests that use it. */
#ifndef SLUICE_UNIT_HTTPD_H
#define SLUICE_UNIT_HTTPD_H

#include <microhttpd.h>

/* Start a daemon with `flags` (MHD_USE_INTERNAL_POLLING_THREAD and the
 * test's threading choice) on 127.0.0.1, a port the kernel chose (*port),
 * answering with handler(handler_cls, ...) and calling completed (may be
 * NULL) when a request ends. Fails the test when it cannot start. Returns
 * the daemon: stop it with MHD_stop_daemon. */
struct MHD_Daemon *unit_httpd_start(unsigned int flags, MHD_AccessHandlerCallback handler,
                                    void *handler_cls, MHD_RequestCompletedCallback completed,
                                    unsigned short *port);
#endif
