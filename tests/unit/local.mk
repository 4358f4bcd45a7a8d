# tests/unit/local.mk: unit tests (Check), one fragment per area.
# Helpers several tests share (unit/support): a test lists the sources of
# the ones it uses.
UNIT_SUPPORT_SOURCES = unit/support/unit_support.h unit/support/unit_support.c
UNIT_FEED_SOURCES = $(UNIT_SUPPORT_SOURCES) unit/support/unit_feed.c
UNIT_HTTPD_SOURCES = unit/support/unit_httpd.h unit/support/unit_httpd.c
include $(srcdir)/unit/config.mk
include $(srcdir)/unit/state.mk
include $(srcdir)/unit/runtime.mk
include $(srcdir)/unit/http.mk
include $(srcdir)/unit/annexcloud.mk
include $(srcdir)/unit/transforms.mk
include $(srcdir)/unit/sinks.mk
include $(srcdir)/unit/paths.mk
include $(srcdir)/unit/exports.mk
include $(srcdir)/unit/nats.mk
