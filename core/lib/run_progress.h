/* run_progress.h: the one-line progress `sluice run --once` draws on a
 * terminal (stderr) while the pipelines run: items read of the full read
 * when the source tells (sluice_source_progress), rate, ETA, delivered,
 * DLQ. Read from the stages' statistics files; no work per record.
 * Implemented in run_progress.c; drawn by sluice_run_pipelines. */
#ifndef SLUICE_RUN_PROGRESS_H
#define SLUICE_RUN_PROGRESS_H

#include <stddef.h>
#include "pipeline.h"

typedef struct sluice_progress sluice_progress;

/* A progress line for the `n` pipelines `defs` (read at creation: they
 * may go after) drawn on terminal `fd`. NULL on allocation failure. */
sluice_progress *sluice_progress_new(sluice_pipeline_def *const *defs, size_t n, int fd);

/* Milliseconds until the line is due again (0: now); -1 for NULL. */
long sluice_progress_due_ms(const sluice_progress *p);

/* Redraw the line if it is due. NULL: nothing. */
void sluice_progress_tick(sluice_progress *p);

/* Draw the line a last time with the final figures and a newline, free
 * it and set *p_p to NULL. NULL: nothing. */
void sluice_progress_finish(sluice_progress **p_p);
#endif
