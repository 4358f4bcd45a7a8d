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

/* Check the files libconfig will read for pipeline `path` before it opens
 * any (config_include.c): `path` and, nested, every `@include "NAME"`
 * outside comments and strings (NAME relative to `include_dir`, as
 * libconfig resolves it) must be readable regular files; a directory or a
 * FIFO is refused without being opened (libconfig 1.5 would exit(2) on
 * the one and block on the other). Returns 0, or -1 with "FILE:LINE:
 * cannot open include file PATH: is a directory, not a file" (or "FILE:
 * cannot read: ...") in err. */
int sluice_config_check_files(const char *path, const char *include_dir, sluice_error *err);

/* Check where the stages of `def` bind (config_rules.c): each process of a
 * stage after the source binds a data and an ack endpoint (tcp://H:P and
 * H:P+1, ipc://PATH and PATH.ack, the runtime_dir defaults); no two may be
 * the same address (a tcp wildcard host clashes with any host on its
 * port), and an ipc:// path must fit the OS limit. Returns 0, or -1 with
 * *stage the stage to blame and a message in why (e.g. "its ack endpoint
 * tcp://127.0.0.1:27601 clashes with the data endpoint ... of stage 'b'"). */
int sluice_pipeline_check_binds(const sluice_pipeline_def *def, size_t *stage, char *why,
                                size_t len);

/* How long stage `index` (its plugin loaded) may send no sign of life
 * upstream while it works on a batch: http_timeout_ms +
 * retry_max_backoff_ms for a transform whose plugin declares
 * SLUICE_PLUGIN_HTTP (a hung request, then the wait before the next
 * attempt), else 0 (a sink sends heartbeats while it waits). The
 * pipeline's ack_timeout_ms must exceed it. */
long sluice_stage_silence_ms(const sluice_stage_def *stage, size_t index);
#endif
