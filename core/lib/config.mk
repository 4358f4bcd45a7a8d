# core/lib/config.mk: plugin loader, pipeline definitions, option validation.
libsluice_la_SOURCES += lib/registry.h lib/pipeline.h \
	lib/registry.c lib/config.c lib/config_check.h lib/config_include.c \
	lib/config_rules.c \
	lib/options.h lib/options.c lib/interp.h lib/interp.c
sluice_SOURCES += cli/commands_config.h cli/cmd_check.c cli/cmd_plugins.c
