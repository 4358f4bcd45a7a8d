/* config_link.h: the stage keys of link security and limits
 * (curve_public_key, curve_secret_key_file, curve_clients, insecure_tcp,
 * max_frame_bytes), read from a stage's libconfig group by config.c.
 * Implemented in config_link.c; the rules between stages are in curve.h. */
#ifndef SLUICE_CONFIG_LINK_H
#define SLUICE_CONFIG_LINK_H

#include <stddef.h>
#include <stdio.h>
#include <libconfig.h>

#include "pipeline.h"

/* Read the link keys of stage `group` into `common` (strings interpolated
 * like every value, relative paths taken from `base_dir`). Public keys
 * must be Z85 keys; a curve_secret_key_file that exists on this host must
 * be the owner's alone and hold the secret half of curve_public_key (one
 * that does not exist is left for the host that runs the stage).
 * Returns 0, or -1 with *where the setting at fault (NULL: the group) and
 * the reason in `why`. What was read is freed by sluice_config_link_free
 * either way. */
int sluice_config_link_load(const config_setting_t *group, const char *base_dir,
                            sluice_stage_common *common, const config_setting_t **where,
                            char *why, size_t len);

/* Free what sluice_config_link_load put in `common`. */
void sluice_config_link_free(sluice_stage_common *common);

/* Print the link keys of stage `index` as libconfig lines, each starting
 * with `indent` (max_frame_bytes always, with its default filled in). */
void sluice_config_link_print(const sluice_pipeline_def *def, size_t index, FILE *out,
                              const char *indent);
#endif
