# plugins/tier-event-deriver/local.mk: build of the tier-event-deriver plugin
# (rules in deriver_rules.c, anniversary index, SDK glue; SHA-256 from libcrypto).
if BUILD_PLUGIN_TIER_EVENT_DERIVER
pkglib_LTLIBRARIES += tier-event-deriver.la
tier_event_deriver_la_SOURCES = tier-event-deriver/tier_event_deriver.c \
	tier-event-deriver/deriver_rules.h tier-event-deriver/deriver_rules.c \
	tier-event-deriver/anniv_index.h tier-event-deriver/anniv_index.c \
	field-mapper/loytime.h field-mapper/loytime.c
tier_event_deriver_la_CPPFLAGS = $(PLUGIN_INCLUDES) -I$(srcdir)/field-mapper
tier_event_deriver_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(CRYPTO_CFLAGS)
tier_event_deriver_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
tier_event_deriver_la_LIBADD = $(PLUGIN_LINK_LIBS) $(CRYPTO_LIBS)
endif
