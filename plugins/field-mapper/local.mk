# plugins/field-mapper/local.mk: build of the field-mapper plugin (compiled
# declarative mapping; rule engine in mapper_*.c, glue in field_mapper.c).
if BUILD_PLUGIN_FIELD_MAPPER
pkglib_LTLIBRARIES += field-mapper.la
field_mapper_la_SOURCES = field-mapper/field_mapper.c field-mapper/mapper.h \
	field-mapper/mapper_internal.h field-mapper/mapper_compile.c \
	field-mapper/mapper_apply.c
field_mapper_la_CPPFLAGS = $(PLUGIN_INCLUDES) $(PLUGIN_COMMON_INCLUDES)
field_mapper_la_CFLAGS = $(PLUGIN_WARN_FLAGS)
field_mapper_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
field_mapper_la_LIBADD = $(PLUGIN_COMMON_LIBS) $(PLUGIN_LINK_LIBS) $(MATH_LIBS)
endif
