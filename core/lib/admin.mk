# core/lib/admin.mk: the admin endpoint of `sluice run` (/metrics, /health,
# /status, the status page) and `sluice status`, which reads it.
libsluice_core_la_SOURCES += lib/admin.h lib/admin.c lib/admin_gather.c lib/admin_health.c \
	lib/admin_prom.c lib/admin_page.c lib/admin_view.c
sluice_SOURCES += cli/cmd_status.c
