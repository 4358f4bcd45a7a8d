/* mapper.h: the field-mapper's rule engine, pure functions with no SDK
 * dependency: compile a declarative mapping (the stage's options as JSON)
 * once, then apply it to canonical loyalty records. See docs/field-mapper.md. */
#ifndef SLUICE_MAPPER_H
#define SLUICE_MAPPER_H

#include <stddef.h>
#include <jansson.h>

typedef struct mapper mapper;

/* Outcome of mapper_apply. */
typedef enum mapper_result {
    MAPPER_MAPPED = 0,   /* *out holds the destination record */
    MAPPER_PASS = 1,     /* no mapping for this kind: forward unchanged */
    MAPPER_DROP = 2,     /* kind listed in drop_kinds */
    MAPPER_REJECT = 3    /* bad record: reason filled, names the field */
} mapper_result;

/* Compile the options object `config` (borrowed; the compiled mapping
 * copies what it needs). Keys used: member, events, drop_kinds, lists,
 * tags, vars. Returns a new mapper (caller owns; mapper_free), or NULL
 * with a message naming the offending field (e.g. "member.fields[3] (to
 * 'date_of_birth'): unknown type 'dat'") in err. */
mapper *mapper_compile(const json_t *config, char *err, size_t errlen);

/* Map `in` (borrowed). On MAPPER_MAPPED sets *out to a new reference the
 * caller owns; on MAPPER_REJECT writes the reason (e.g. "field 'birthday':
 * not a date: '1990-13-45'") into reason; otherwise *out is NULL. */
mapper_result mapper_apply(const mapper *m, const json_t *in, json_t **out,
                           char *reason, size_t reasonlen);

/* Free and NULL the caller's pointer. Safe on NULL. */
void mapper_free(mapper **m_p);
#endif
