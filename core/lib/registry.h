/* registry.h: the plugin loader (libltdl) and the table of loaded plugins. */
#ifndef SLUICE_REGISTRY_H
#define SLUICE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include "sluice/plugin.h"

typedef struct sluice_registry sluice_registry;

/* Create an empty registry and initialise libltdl. The search path is, in
 * order: $SLUICE_PLUGIN_PATH (colon-separated), then the configured
 * $(pkglibdir), or instead of it the build tree's plugins when this is
 * the uninstalled sluice (<build>/core/.libs/ run by libtool's wrapper).
 * Directories that do not exist are left out. Caller owns the result
 * (sluice_registry_destroy). NULL on allocation failure. */
sluice_registry *sluice_registry_new(void);

/* Load one module file (path with or without extension). Refuses a
 * missing `sluice_plugin` symbol, a wrong abi_version or struct_size, or a
 * duplicate plugin name. Returns 0, or -1 with a message naming the file
 * and the reason (lt_dlerror() text for missing shared-library
 * dependencies) in errbuf. */
int sluice_registry_load_file(sluice_registry *reg, const char *path,
                              char *errbuf, size_t errlen);

/* Find and load plugin `name` (e.g. "file-sink") from the search path.
 * Returns the descriptor (borrowed) or NULL with errbuf filled. Loading
 * the same name twice returns the first. */
const sluice_plugin *sluice_registry_require(sluice_registry *reg, const char *name,
                                             char *errbuf, size_t errlen);

/* Load every module found on the search path (for `sluice plugins`).
 * Problems with single files are reported through `warn` (may be NULL).
 * Returns the number loaded. */
size_t sluice_registry_load_all(sluice_registry *reg,
                                void (*warn)(const char *msg, void *user), void *user);

/* Loaded plugins, in load order. */
size_t sluice_registry_count(const sluice_registry *reg);
const sluice_plugin *sluice_registry_at(const sluice_registry *reg, size_t i);
const char *sluice_registry_path_at(const sluice_registry *reg, size_t i);

/* The descriptor's SLUICE_PLUGIN_* bits; 0 for a descriptor built before
 * the `flags` field existed (struct_size SLUICE_PLUGIN_SIZE_V1). */
uint32_t sluice_plugin_flags(const sluice_plugin *plugin);

/* Unload everything and NULL the caller's pointer. */
void sluice_registry_destroy(sluice_registry **reg_p);
#endif
