/* mapper_internal.h: the compiled form of a field mapping, shared by
 * mapper_compile.c (builds it) and mapper_apply.c (runs it). */
#ifndef SLUICE_MAPPER_INTERNAL_H
#define SLUICE_MAPPER_INTERNAL_H

#include <stddef.h>
#include <jansson.h>
#include "mapper.h"

/* A dotted path split once at compile time. For targets, `append` means
 * the last key ended in "[]": the value is appended to an array there. */
typedef struct mapper_path {
    char **keys;
    size_t count;
    int append;
} mapper_path;

typedef enum mapper_type {
    MAPPER_TYPE_ANY = 0,   /* copy the JSON value as it is */
    MAPPER_TYPE_STRING,
    MAPPER_TYPE_INTEGER,
    MAPPER_TYPE_DECIMAL,
    MAPPER_TYPE_BOOLEAN,
    MAPPER_TYPE_DATE,
    MAPPER_TYPE_DATETIME,
    MAPPER_TYPE_LISTS_ADD,    /* list ids to add, from a segment map */
    MAPPER_TYPE_LISTS_REMOVE, /* list ids to remove, from a segment map */
    MAPPER_TYPE_TAGS,         /* tag names from a gate + segments */
    MAPPER_TYPE_OBJECT        /* nested mapping building one object */
} mapper_type;

typedef enum mapper_source {
    MAPPER_SRC_FROM = 0,   /* one input field */
    MAPPER_SRC_CONST,      /* a constant */
    MAPPER_SRC_VAR,        /* a value of the stage option `vars` */
    MAPPER_SRC_JOIN_FIELDS,/* several input fields joined */
    MAPPER_SRC_RECORD      /* the whole record (object type) */
} mapper_source;

struct mapper_spec;

typedef struct mapper_field {
    char *label;            /* the name used in reject reasons */
    mapper_path to;
    mapper_source source;
    mapper_path from;
    json_t *constant;       /* const, or the resolved var (owned) */
    mapper_path *join_from; /* join_fields */
    size_t join_count;
    char *separator;        /* join_fields separator (default " ") */
    mapper_type type;
    char *format;           /* datetime strftime format, %z/%:z resolved */
    long tz_offset;         /* seconds east of UTC (date/datetime) */
    int has_min, has_max;
    double min, max;
    json_t *map;            /* enum map: object text -> value (owned) */
    json_t *map_default;    /* owned, or NULL: unmapped values reject */
    char *join;             /* list join separator, or NULL */
    json_t *default_value;  /* owned, used when the input is absent */
    int omit_if_null;
    char *strip_prefix;     /* removed from the start of string values */
    char *sanitize;         /* characters replaced in strings (with control
                               characters), or NULL */
    char *sanitize_with;    /* their replacement (default " ") */
    long max_length;        /* longest string in characters, 0 = no limit */
    /* lists_add / lists_remove / tags */
    json_t *segment_map;    /* owned copy of the stage option, or NULL */
    mapper_path gate;       /* e.g. opt_in_status */
    char *gate_on;          /* "yes" */
    char *gate_off;         /* "no" */
    char *base;             /* lists: key of the program list; tags: tag */
    /* object */
    struct mapper_spec *object;
    mapper_path when;       /* object emitted only when this is non-null */
} mapper_field;

typedef struct mapper_spec {
    mapper_field *fields;
    size_t field_count;
    mapper_path *require;
    size_t require_count;
    int keep_unmapped;
} mapper_spec;

typedef struct mapper_event_spec {
    char *event_type;
    mapper_spec *spec;
} mapper_event_spec;

struct mapper {
    mapper_spec *member;          /* NULL: members pass through */
    int has_events;               /* an `events` group was given */
    mapper_event_spec *events;
    size_t event_count;
    mapper_spec *event_default;   /* NULL: unknown event types reject */
    char **drop_kinds;
    size_t drop_count;
};

/* Free a spec and everything it owns (safe on NULL). */
void mapper_spec_free(mapper_spec *spec);

/* Look up `path` in `record`; NULL when absent (borrowed). */
json_t *mapper_path_lookup(const json_t *record, const mapper_path *path);
#endif
