# tests/emulators/annexcloud.mk: build and tests of the annexcloud emulator part.
# annexcloud-emu: the Annex Cloud Loyalty API v3 emulator (docs/testing.md, "annexcloud-emu");
# annexcloud-jwt: prints request JWTs for tests; annexcloud-webhook-sink: records webhook POSTs.
ANNEXCLOUD_EMU_CFLAGS = $(EMU_COMMON_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
check_PROGRAMS += emulators/annexcloud-emu emulators/annexcloud-jwt emulators/annexcloud-webhook-sink
emulators_annexcloud_emu_SOURCES = emulators/annexcloud_emu.c emulators/annexcloud_emu.h \
	emulators/annexcloud_auth.c emulators/annexcloud_model.c emulators/annexcloud_webhook.c \
	emulators/annexcloud_feed.c emulators/annexcloud_envelope.c emulators/annexcloud_delta.c
emulators_annexcloud_emu_CFLAGS = $(ANNEXCLOUD_EMU_CFLAGS)
emulators_annexcloud_emu_LDADD = $(EMU_COMMON_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)
emulators_annexcloud_jwt_SOURCES = emulators/annexcloud_jwt.c emulators/annexcloud_auth.c emulators/annexcloud_emu.h
emulators_annexcloud_jwt_CFLAGS = $(ANNEXCLOUD_EMU_CFLAGS)
emulators_annexcloud_jwt_LDADD = $(JANSSON_LIBS) $(CRYPTO_LIBS)
emulators_annexcloud_webhook_sink_SOURCES = emulators/annexcloud_webhook_sink.c
emulators_annexcloud_webhook_sink_CFLAGS = $(EMU_COMMON_CFLAGS)
emulators_annexcloud_webhook_sink_LDADD = $(EMU_COMMON_LIBS)
TESTS += emulators/test_annexcloud_emu.sh
EXTRA_DIST += emulators/test_annexcloud_emu.sh emulators/data/annexcloud/program.json \
	emulators/data/annexcloud/annex/members.jsonl emulators/data/annexcloud/annex/changes.jsonl
