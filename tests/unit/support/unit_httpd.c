/* unit_httpd.c: the loopback libmicrohttpd server of unit_httpd.h. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "unit_httpd.h"

/* unit_httpd_start: see unit_httpd.h. */
struct MHD_Daemon *unit_httpd_start(unsigned int flags, MHD_AccessHandlerCallback handler,
                                    void *handler_cls, MHD_RequestCompletedCallback completed,
                                    unsigned short *port)
{
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    struct MHD_Daemon *daemon;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_cls,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(daemon);
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    *port = info->port;
    ck_assert_uint_gt(*port, 0);
    return daemon;
}
