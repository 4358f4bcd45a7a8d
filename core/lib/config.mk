# core/lib/config.mk: plugin loader, pipeline definitions, option validation.
libsluice_core_la_SOURCES += lib/registry.h lib/pipeline.h \
	lib/registry.c lib/config.c lib/config_check.h lib/config_include.c \
	lib/config_load.h lib/config_error.c lib/config_stage.c lib/config_read.c \
	lib/config_print.c lib/config_text.h lib/config_text.c \
	lib/config_rules.c \
	lib/options.h lib/options.c lib/interp.h lib/interp.c \
	lib/stage_check.h lib/stage_check.c
sluice_SOURCES += cli/commands_config.h cli/cmd_check.c cli/cmd_plugins.c
# Link security keys of a stage (CURVE, insecure_tcp, max_frame_bytes).
libsluice_core_la_SOURCES += lib/config_link.h lib/config_link.c
sluice_SOURCES += cli/cmd_keygen.c
