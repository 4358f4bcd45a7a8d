# core/lib/runtime.mk: batches, ZeroMQ stages, state store, supervisor, CLI.
libsluice_la_SOURCES += lib/ctx.h
sluice_SOURCES += cli/main.c
libsluice_la_SOURCES += lib/batch.h lib/batch.c lib/wire.c lib/store.h lib/store.c \
	lib/kv.h lib/kv.c lib/sdk_state.c
libsluice_la_SOURCES += lib/stage.h lib/endpoint.c lib/unit.c \
	lib/runner.h lib/runner.c lib/runner_stats.c lib/link.c \
	lib/run_source.c lib/run_transform.c lib/run_sink.c \
	lib/window.h lib/window.c lib/reorder.h lib/reorder.c
libsluice_la_SOURCES += lib/supervisor.h lib/supervisor.c
sluice_SOURCES += cli/commands_runtime.h cli/cmd_run.c
sluice_SOURCES += cli/commands_state.h cli/cmd_dlq.c
