# plugins/nats-sink/local.mk: build of the nats-sink plugin (records to a
# NATS JetStream stream), only when configure found libnats.
if BUILD_PLUGIN_NATS
pkglib_LTLIBRARIES += nats-sink.la
endif
nats_sink_la_SOURCES = nats-sink/nats_sink.c nats-sink/nats_subject.h nats-sink/nats_subject.c \
	nats-common/nats_conn.h nats-common/nats_conn.c
nats_sink_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES) -I$(srcdir)/nats-common
nats_sink_la_CFLAGS = $(PLUGIN_WARN_FLAGS) $(NATS_CFLAGS)
nats_sink_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
nats_sink_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS) $(NATS_LIBS)
