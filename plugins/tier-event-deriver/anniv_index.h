/* anniv_index.h: in-memory index of members by next tier-anniversary day,
 * so the clock sweep visits only the members that are due (a hash of
 * member id -> day plus a min-heap with lazy deletion). Pure data
 * structure; the plugin rebuilds it from the state store. */
#ifndef SLUICE_ANNIV_INDEX_H
#define SLUICE_ANNIV_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct anniv_index anniv_index;

/* New empty index (caller owns; anniv_index_destroy), NULL on ENOMEM. */
anniv_index *anniv_index_new(void);

/* Free and NULL the caller's pointer. Safe on NULL. */
void anniv_index_destroy(anniv_index **index_p);

/* Forget every member. */
void anniv_index_clear(anniv_index *index);

/* Set member `id`'s next anniversary day (INT64_MAX: none). 0 or -1. */
int anniv_index_set(anniv_index *index, const char *id, int64_t day);

/* Pop a member due on or before `day`: returns its id (borrowed, valid
 * until the index is cleared or destroyed) or NULL when none is due. The
 * caller must anniv_index_set() the member again with its new day. */
const char *anniv_index_pop_due(anniv_index *index, int64_t day);

/* Number of members known. */
size_t anniv_index_size(const anniv_index *index);
#endif
