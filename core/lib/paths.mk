# core/lib/paths.mk: where sluice finds the files it did not get on the
# command line (the include search path of pipeline files, the service
# settings file), and the one place its state directories are created.
libsluice_core_la_SOURCES += lib/include_path.h lib/include_path.c
libsluice_core_la_SOURCES += lib/util/private_dir.h lib/util/private_dir.c
# The service settings file, $(sysconfdir)/sluice/sluice.conf.
libsluice_core_la_SOURCES += lib/service_conf.h lib/service_conf.c
# What `sluice run` tells systemd (sd_notify, when built with libsystemd).
sluice_SOURCES += cli/service_notify.h cli/service_notify.c
