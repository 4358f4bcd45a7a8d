/* config_check.h: helpers around sluice_pipeline_load for `sluice check`
 * and the runtime: load the plugins a pipeline file names, telling a
 * configuration error (78) from an unloadable plugin (69). */
#ifndef SLUICE_CONFIG_CHECK_H
#define SLUICE_CONFIG_CHECK_H

#include "pipeline.h"
#include "registry.h"

/* Exit code when a plugin cannot be loaded (sysexits EX_UNAVAILABLE). */
#define SLUICE_EXIT_UNAVAILABLE 69

/* Read `path` (syntax only, no validation) and load into `reg` the plugin
 * of every stage. Returns 0; SLUICE_EXIT_CONFIG if the file cannot be read
 * or parsed (err says FILE:LINE); SLUICE_EXIT_UNAVAILABLE if a plugin
 * cannot be found or is refused (err names the stage and the reason).
 * Stages without a plugin name are left for sluice_pipeline_load to
 * report. */
int sluice_pipeline_require_plugins(const char *path, sluice_registry *reg,
                                    sluice_error *err);
#endif
