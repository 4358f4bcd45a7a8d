/* store_internal.h: what store.c lends store_dlq.c (the dead-letter queue
 * and the replay queue): a handle's SQLite connection, a statement cache
 * and the small helpers every query uses. Internal to core/lib. */
#ifndef SLUICE_STORE_INTERNAL_H
#define SLUICE_STORE_INTERNAL_H

#include <stddef.h>
#include <sqlite3.h>
#include <jansson.h>
#include "store.h"

/* Statement slots a handle keeps for store_dlq.c (store_cached_stmt). */
#define STORE_DLQ_STMTS 24

/* The handle's connection and database path (borrowed). */
sqlite3 *store_db(sluice_store *store);
const char *store_path(sluice_store *store);

/* Cached statement number `slot` (< STORE_DLQ_STMTS) of the handle,
 * prepared from `sql` on first use (a slot always gets the same sql),
 * reset and with bindings cleared. NULL on error (logged). */
sqlite3_stmt *store_cached_stmt(sluice_store *store, unsigned slot, const char *sql);

/* Step a statement that returns no rows to completion and reset it.
 * 0, or -1 with the failure of `what` logged. */
int store_step_done(sluice_store *store, sqlite3_stmt *stmt, const char *what);

/* Log the connection's last SQLite error as the failure of `what`. */
void store_log_error(sluice_store *store, const char *what);

/* Bind text (copied) / json (as compact text) at `index`. 0 or -1. */
int store_bind_text(sqlite3_stmt *stmt, int index, const char *text);
int store_bind_json(sqlite3_stmt *stmt, int index, const json_t *json);

/* store_dlq.c: bring the dlq and replay tables of a state.db written by an
 * older sluice up to date (the history column), inside sluice_store_open's
 * transaction. 0, or -1 with the reason in errbuf. */
int store_dlq_migrate(sluice_store *store, char *errbuf, size_t errlen);
#endif
