# core/lib/runtime.mk: batches, ZeroMQ stages, state store, supervisor, CLI.
libsluice_la_SOURCES += lib/ctx.h
sluice_SOURCES += cli/main.c
