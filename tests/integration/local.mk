# tests/integration/local.mk: whole pipelines through real processes.
include $(srcdir)/integration/core.mk
include $(srcdir)/integration/sdk.mk
include $(srcdir)/integration/install.mk
include $(srcdir)/integration/service.mk
include $(srcdir)/integration/annexcloud.mk
include $(srcdir)/integration/transforms.mk
include $(srcdir)/integration/sinks.mk
include $(srcdir)/integration/soak.mk
include $(srcdir)/integration/admin.mk
include $(srcdir)/integration/nats.mk
