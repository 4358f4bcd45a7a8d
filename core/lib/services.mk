# core/lib/services.mk: services for plugins: logging, HTTP client, throttle.
libsluice_la_SOURCES += lib/log.h lib/log.c
