# tests/unit/local.mk: unit tests (Check), one fragment per area.
include $(srcdir)/unit/config.mk
include $(srcdir)/unit/state.mk
include $(srcdir)/unit/runtime.mk
include $(srcdir)/unit/http.mk
include $(srcdir)/unit/annexcloud.mk
include $(srcdir)/unit/transforms.mk
include $(srcdir)/unit/sinks.mk
include $(srcdir)/unit/paths.mk
include $(srcdir)/unit/exports.mk
