/* stage_check.h: running the plugins' check() callbacks (sluice/plugin.h) over a
 * loaded pipeline and handing each problem they report to the caller,
 * which gives it a FILE:LINE. Implemented in stage_check.c. */
#ifndef SLUICE_CHECK_H
#define SLUICE_CHECK_H

#include <stddef.h>
#include "pipeline.h"

/* Receives one problem of stage `index`: about `option` (NULL: the stage
 * as a whole), `text` the plugin's message. Both borrowed. */
typedef void (*sluice_check_report_fn)(void *user, size_t index, const char *option,
                                       const char *text);

/* Run the check() callback of stage `index` of `def` (nothing when its
 * plugin has none), reporting through `report`. Returns the number of
 * problems reported. */
size_t sluice_check_stage_run(const sluice_pipeline_def *def, size_t index,
                              sluice_check_report_fn report, void *user);
#endif
