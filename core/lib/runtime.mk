# core/lib/runtime.mk: batches, ZeroMQ stages, state store, supervisor, CLI.
libsluice_core_la_SOURCES += lib/ctx.h
sluice_SOURCES += cli/main.c
libsluice_core_la_SOURCES += lib/batch.h lib/batch.c lib/wire.c lib/store.h lib/store.c \
	lib/store_internal.h lib/store_dlq.c \
	lib/kv.h lib/kv.c lib/sdk_state.c
# `sluice dlq replay` in the stage runners: replay batches, each record's fate.
libsluice_core_la_SOURCES += lib/runner_replay.c
# Parkings in the dead-letter queue told at warn, rate-limited per stage.
libsluice_core_la_SOURCES += lib/runner_dlqlog.c
libsluice_core_la_SOURCES += lib/stage.h lib/endpoint.c lib/unit.c lib/wake.h lib/wake.c \
	lib/runner.h lib/runner.c lib/runner_stats.c lib/link.c \
	lib/run_source.c lib/run_transform.c lib/run_sink.c \
	lib/window.h lib/window.c lib/reorder.h lib/reorder.c
libsluice_core_la_SOURCES += lib/supervisor.h lib/supervisor_internal.h lib/supervisor.c \
	lib/supervisor_restart.c lib/supervisor_process.c lib/run_summary.c \
	lib/run_progress.h lib/run_progress.c \
	lib/run_lock.h lib/run_lock.c \
	lib/fleet.h lib/fleet_internal.h lib/fleet.c lib/fleet_state.c \
	lib/util/proctitle.h lib/util/proctitle.c lib/protect.h lib/protect.c
sluice_SOURCES += cli/commands_runtime.h cli/cmd_run.c cli/cmd_reload.c
sluice_SOURCES += cli/commands_state.h cli/cmd_dlq.c cli/cmd_erase.c
# Link security: CURVE keys and rules, the ZAP handler admitting clients.
libsluice_core_la_SOURCES += lib/curve.h lib/curve.c lib/zap.h lib/zap.c
