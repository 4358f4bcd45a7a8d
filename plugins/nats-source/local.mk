# plugins/nats-source/local.mk: build of the nats-source plugin (a durable
# JetStream pull consumer), only when configure found libnats.
if BUILD_PLUGIN_NATS
pkglib_LTLIBRARIES += nats-source.la
endif
nats_source_la_SOURCES = nats-source/nats_source.c \
	nats-common/nats_conn.h nats-common/nats_conn.c
nats_source_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES) -I$(srcdir)/nats-common
nats_source_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(NATS_CFLAGS)
nats_source_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
nats_source_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS) $(NATS_LIBS) $(PTHREAD_LIBS)
