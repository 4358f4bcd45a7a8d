# core/lib/config.mk: plugin loader, pipeline definitions, option validation.
libsluice_la_SOURCES += lib/registry.h lib/pipeline.h
