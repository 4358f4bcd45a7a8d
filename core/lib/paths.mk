# core/lib/paths.mk: where sluice finds the files it did not get on the
# command line (the include search path of pipeline files), and the one
# place its state directories are created.
libsluice_core_la_SOURCES += lib/include_path.h lib/include_path.c
libsluice_core_la_SOURCES += lib/util/private_dir.h lib/util/private_dir.c
