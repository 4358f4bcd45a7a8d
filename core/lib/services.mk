# core/lib/services.mk: services for plugins: logging, HTTP client, throttle.
# Small utilities with one owner each (util/).
libsluice_core_la_SOURCES += lib/util/clock.h lib/util/clock.c lib/util/backoff.h lib/util/backoff.c \
	lib/util/dynbuf.h lib/util/dynbuf.c
libsluice_core_la_SOURCES += lib/log.h lib/log.c
libsluice_core_la_SOURCES += lib/metrics.h lib/metrics.c
libsluice_core_la_SOURCES += lib/sdk_ctx.c
libsluice_core_la_SOURCES += lib/throttle.h lib/throttle.c lib/http.h lib/http.c lib/http_answer.c \
	lib/arc.h lib/arc.c lib/pace.h lib/pace.c lib/http_gate.c
