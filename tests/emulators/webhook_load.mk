# tests/emulators/webhook_load.mk: webhook-load, the signed-webhook load generator of the
# webhook soak test and the intake benchmark (docs/testing.md, "Webhook soak"). It builds
# the bodies annexcloud-emu would post, from the emulator's own model and envelope code.
check_PROGRAMS += emulators/webhook-load
emulators_webhook_load_SOURCES = emulators/webhook_load.c emulators/annexcloud_envelope.c \
	emulators/annexcloud_model.c emulators/annexcloud_auth.c emulators/annexcloud_emu.h
emulators_webhook_load_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
emulators_webhook_load_LDADD = $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
TESTS += emulators/test_webhook_load.sh
EXTRA_DIST += emulators/test_webhook_load.sh
