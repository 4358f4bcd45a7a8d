# plugins/tier-event-deriver/local.mk: build of the tier-event-deriver plugin
# (rules in deriver_*.c, anniversary index, SDK glue; SHA-256 from libcrypto).
if BUILD_PLUGIN_TIER_EVENT_DERIVER
pkglib_LTLIBRARIES += tier-event-deriver.la
TIER_EVENT_DERIVER_RULES = tier-event-deriver/deriver_rules.h \
	tier-event-deriver/deriver_internal.h tier-event-deriver/deriver_config.c \
	tier-event-deriver/deriver_id.c tier-event-deriver/deriver_validate.c \
	tier-event-deriver/deriver_events.c tier-event-deriver/deriver_step.c
tier_event_deriver_la_SOURCES = tier-event-deriver/tier_event_deriver.c \
	$(TIER_EVENT_DERIVER_RULES) \
	tier-event-deriver/anniv_index.h tier-event-deriver/anniv_index.c
tier_event_deriver_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
tier_event_deriver_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CRYPTO_CFLAGS)
tier_event_deriver_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
tier_event_deriver_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS) $(CRYPTO_LIBS)
endif
