# tests/emulators/local.mk: the Annex Cloud, Ometria and Infobip emulators and the webhook load generator.
include $(srcdir)/emulators/common.mk
include $(srcdir)/emulators/annexcloud.mk
include $(srcdir)/emulators/ometria.mk
include $(srcdir)/emulators/infobip.mk
include $(srcdir)/emulators/webhook_load.mk
