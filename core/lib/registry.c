/* registry.c: the plugin loader. Opens libtool modules with libltdl, checks
 * each descriptor (ABI version, struct size, name, role, callbacks, option
 * table) and keeps the table of loaded plugins. Not thread-safe: the
 * runtime loads every plugin before it starts any thread or child. */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ltdl.h>

#include "options.h"
#include "registry.h"

#ifndef SLUICE_MODULE_EXT
#define SLUICE_MODULE_EXT ".so"
#endif

typedef struct registry_entry {
    lt_dlhandle handle;
    sluice_plugin *plugin;       /* owned: the module's descriptor in this ABI's
                                    layout (see descriptor_normalize) */
    sluice_option *options;      /* owned: an ABI 1 table in this ABI's layout,
                                    or NULL when the module's table is used */
    char *path;                  /* file actually opened */
    size_t dir_index;            /* search-path directory it came from, or SIZE_MAX */
} registry_entry;

/* An option row as ABI 1 laid it out (before range, choices and kind). */
typedef struct sluice_option_abi1 {
    const char *name;
    sluice_opt_type type;
    const char *default_value;
    int required;
    int secret;
    const char *help;
} sluice_option_abi1;

struct sluice_registry {
    registry_entry *entries;
    size_t count;
    size_t capacity;
    char **dirs; /* search path, in order, without duplicates */
    size_t dir_count;
};

/* Outcome of opening one module. */
typedef enum load_result {
    LOAD_OK = 0,
    LOAD_FAILED = -1,
    LOAD_SHADOWED = 1 /* same name already loaded from an earlier directory */
} load_result;

/* Append a copy of `dir` (length len) to the search path unless it is
 * empty, already present, or not a directory. Returns 0 or -1 (OOM). */
static int add_search_dir(sluice_registry *reg, const char *dir, size_t len)
{
    char *copy;
    char resolved[PATH_MAX];
    struct stat st;
    char **grown;

    if (len == 0)
        return 0;
    copy = strndup(dir, len);
    if (!copy)
        return -1;
    if (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(copy);
        return 0;
    }
    if (realpath(copy, resolved)) {
        char *canonical = strdup(resolved);
        free(copy);
        if (!canonical)
            return -1;
        copy = canonical;
    }
    for (size_t i = 0; i < reg->dir_count; i++) {
        if (strcmp(reg->dirs[i], copy) == 0) {
            free(copy);
            return 0;
        }
    }
    grown = realloc(reg->dirs, (reg->dir_count + 1) * sizeof(*grown));
    if (!grown) {
        free(copy);
        return -1;
    }
    reg->dirs = grown;
    reg->dirs[reg->dir_count++] = copy;
    return 0;
}

/* The build tree's plugin directory, when this process is the uninstalled
 * sluice: libtool's wrapper script <build>/core/sluice runs the real
 * executable from <build>/core/.libs/, and the plugins are built into
 * <build>/plugins/.libs. Writes that directory into buf and returns 0; -1
 * for any other executable (an installed sluice, a test program), which
 * never searches a build tree. No build path is compiled in: a package
 * built in a temporary directory cannot load what later sits there. */
static int uninstalled_plugin_dir(char *buf, size_t len)
{
    static const char exe_dir_tail[] = "/core/.libs";
    const size_t tail_len = sizeof(exe_dir_tail) - 1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    size_t dir_len;
    int written;

    if (n <= 0)
        return -1;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    dir_len = strlen(exe);
    if (dir_len <= tail_len || strcmp(exe + dir_len - tail_len, exe_dir_tail) != 0)
        return -1;
    exe[dir_len - tail_len] = '\0';
    written = snprintf(buf, len, "%s/plugins/.libs", exe);
    return written < 0 || (size_t)written >= len ? -1 : 0;
}

/* Build the search path: each directory of $SLUICE_PLUGIN_PATH, then the
 * build tree's plugins for the uninstalled sluice, or the installed
 * $(pkglibdir) for any other. Returns 0 or -1 (OOM). */
static int build_search_path(sluice_registry *reg)
{
    const char *env = getenv("SLUICE_PLUGIN_PATH");
    char build_dir[PATH_MAX];

    if (env) {
        const char *start = env;
        for (;;) {
            const char *colon = strchr(start, ':');
            size_t len = colon ? (size_t)(colon - start) : strlen(start);
            if (add_search_dir(reg, start, len) != 0)
                return -1;
            if (!colon)
                break;
            start = colon + 1;
        }
    }
    if (uninstalled_plugin_dir(build_dir, sizeof(build_dir)) == 0)
        return add_search_dir(reg, build_dir, strlen(build_dir));
#ifdef SLUICE_PKGLIBDIR
    if (add_search_dir(reg, SLUICE_PKGLIBDIR, strlen(SLUICE_PKGLIBDIR)) != 0)
        return -1;
#endif
    return 0;
}

sluice_registry *sluice_registry_new(void)
{
    sluice_registry *reg = calloc(1, sizeof(*reg));

    if (!reg)
        return NULL;
    if (lt_dlinit() != 0) {
        free(reg);
        return NULL;
    }
    if (build_search_path(reg) != 0) {
        sluice_registry_destroy(&reg);
        return NULL;
    }
    return reg;
}

/* Index of the loaded plugin called `name`, or -1. */
static long find_loaded(const sluice_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->count; i++) {
        if (strcmp(reg->entries[i].plugin->name, name) == 0)
            return (long)i;
    }
    return -1;
}

/* 1 if `name` is non-empty and only [A-Za-z0-9_.-]. */
static int plugin_name_valid(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* 1 if the descriptor has a layout this sluice reads: ABI 2 at its full
 * size, or ABI 1 as first released (before `flags`) or with `flags`. */
static int descriptor_size_known(const sluice_plugin *plugin)
{
    if (plugin->abi_version == 1)
        return plugin->struct_size == SLUICE_PLUGIN_SIZE_V1 ||
               plugin->struct_size == SLUICE_PLUGIN_SIZE_ABI1;
    return plugin->struct_size == sizeof(sluice_plugin);
}

/* The module's descriptor copied into this ABI's layout: fields past its
 * struct_size read as zero (no flags, no check), and an ABI 1 option
 * table is converted row by row into *options (new rows have no range,
 * choices or kind). Returns the copy (caller frees it and *options), or
 * NULL on allocation failure. The module must stay loaded: the copy
 * borrows its strings and callbacks. */
static sluice_plugin *descriptor_normalize(const sluice_plugin *plugin, sluice_option **options)
{
    sluice_plugin *copy = calloc(1, sizeof(*copy));
    const sluice_option_abi1 *old;
    size_t rows = 0;

    *options = NULL;
    if (!copy)
        return NULL;
    memcpy(copy, plugin, plugin->struct_size < sizeof(*copy) ? plugin->struct_size
                                                            : sizeof(*copy));
    if (plugin->abi_version != 1 || !plugin->options)
        return copy;
    old = (const sluice_option_abi1 *)(const void *)plugin->options;
    while (old[rows].name)
        rows++;
    *options = calloc(rows + 1, sizeof(**options));
    if (!*options) {
        free(copy);
        return NULL;
    }
    for (size_t i = 0; i < rows; i++) {
        (*options)[i].name = old[i].name;
        (*options)[i].type = old[i].type;
        (*options)[i].default_value = old[i].default_value;
        (*options)[i].required = old[i].required;
        (*options)[i].secret = old[i].secret;
        (*options)[i].help = old[i].help;
    }
    copy->options = *options;
    return copy;
}

uint32_t sluice_plugin_flags(const sluice_plugin *plugin)
{
    return plugin->struct_size >= offsetof(sluice_plugin, flags) + sizeof(plugin->flags)
               ? plugin->flags
               : 0;
}

/* Check a descriptor found in `path`. Returns 0 or -1 with errbuf set. */
static int check_descriptor(const sluice_plugin *plugin, const char *path, char *errbuf,
                            size_t errlen)
{
    /* abi_version and struct_size are the first two fields of every ABI:
     * read nothing else before they match. */
    if (plugin->abi_version != SLUICE_ABI_VERSION && plugin->abi_version != 1) {
        snprintf(errbuf, errlen, "%s: built for ABI %u, this sluice speaks ABI 1 and %u", path,
                 (unsigned)plugin->abi_version, (unsigned)SLUICE_ABI_VERSION);
        return -1;
    }
    if (!descriptor_size_known(plugin)) {
        if (plugin->abi_version == 1)
            snprintf(errbuf, errlen,
                     "%s: ABI 1 descriptor is %u bytes, this sluice reads ABI 1 "
                     "descriptors of %zu or %zu (rebuild the plugin against this "
                     "sluice's plugin.h)",
                     path, (unsigned)plugin->struct_size, (size_t)SLUICE_PLUGIN_SIZE_V1,
                     (size_t)SLUICE_PLUGIN_SIZE_ABI1);
        else
            snprintf(errbuf, errlen,
                     "%s: ABI %u descriptor is %u bytes, this sluice expects %zu "
                     "(rebuild the plugin against this sluice's plugin.h)",
                     path, (unsigned)plugin->abi_version, (unsigned)plugin->struct_size,
                     sizeof(sluice_plugin));
        return -1;
    }
    if (!plugin_name_valid(plugin->name)) {
        snprintf(errbuf, errlen, "%s: plugin name %s%s%s is missing or invalid (use [A-Za-z0-9_.-])",
                 path, plugin->name ? "'" : "", plugin->name ? plugin->name : "(null)",
                 plugin->name ? "'" : "");
        return -1;
    }
    switch (plugin->role) {
    case SLUICE_ROLE_SOURCE:
        if (!plugin->poll) {
            snprintf(errbuf, errlen, "%s: plugin '%s' is a source without poll()", path,
                     plugin->name);
            return -1;
        }
        break;
    case SLUICE_ROLE_TRANSFORM:
        if (!plugin->process) {
            snprintf(errbuf, errlen, "%s: plugin '%s' is a transform without process()", path,
                     plugin->name);
            return -1;
        }
        break;
    case SLUICE_ROLE_SINK:
        if (!plugin->write) {
            snprintf(errbuf, errlen, "%s: plugin '%s' is a sink without write()", path,
                     plugin->name);
            return -1;
        }
        break;
    default:
        snprintf(errbuf, errlen, "%s: plugin '%s' has an invalid role %d", path, plugin->name,
                 (int)plugin->role);
        return -1;
    }
    if (!plugin->init) {
        snprintf(errbuf, errlen, "%s: plugin '%s' has no init()", path, plugin->name);
        return -1;
    }
    return 0;
}

/* Explain why `path` could not be opened. libltdl reports "file not
 * found" for an existing module whose dlopen failed (it keeps trying other
 * names), so for an existing file ask the system loader for its reason
 * (e.g. "libfoo.so: cannot open shared object file") and give both. */
static void describe_load_failure(const char *path, const char *ltdl_error, char *errbuf,
                                  size_t errlen)
{
    struct stat st;
    void *probe;
    const char *system_error;

    if (stat(path, &st) != 0) {
        snprintf(errbuf, errlen, "%s: cannot load: %s", path, ltdl_error);
        return;
    }
    probe = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (probe) {
        dlclose(probe);
        snprintf(errbuf, errlen, "%s: cannot load: %s", path, ltdl_error);
        return;
    }
    system_error = dlerror();
    snprintf(errbuf, errlen, "%s: cannot load: %s (libltdl: %s)", path,
             system_error ? system_error : "unknown error", ltdl_error);
}

/* Open `path`, check it and add it. dir_index is the search-path directory
 * (SIZE_MAX for an explicit file). See load_result; errbuf set on failure. */
static load_result load_module(sluice_registry *reg, const char *path, size_t dir_index,
                               char *errbuf, size_t errlen)
{
    load_result result = LOAD_FAILED;
    lt_dladvise advise = NULL;
    lt_dlhandle handle = NULL;
    const sluice_plugin *plugin;
    const lt_dlinfo *info;
    const char *opened;
    long existing;
    registry_entry *entry;
    struct stat st;
    sluice_plugin *normalized = NULL;
    sluice_option *options = NULL;
    char reason[512];

    /* Only ask libltdl to try extensions when the exact file does not
     * exist: otherwise its "file not found" hides the real dlopen error
     * (e.g. a missing shared-library dependency). */
    if (lt_dladvise_init(&advise) != 0 ||
        (stat(path, &st) != 0 && lt_dladvise_ext(&advise) != 0) ||
        lt_dladvise_local(&advise) != 0) {
        snprintf(errbuf, errlen, "%s: libltdl: %s", path, lt_dlerror());
        goto out;
    }
    handle = lt_dlopenadvise(path, advise);
    if (!handle) {
        const char *why = lt_dlerror();
        describe_load_failure(path, why ? why : "unknown error", errbuf, errlen);
        goto out;
    }
    plugin = (const sluice_plugin *)lt_dlsym(handle, SLUICE_PLUGIN_SYMBOL);
    if (!plugin) {
        snprintf(errbuf, errlen, "%s: not a sluice plugin (no symbol '%s')", path,
                 SLUICE_PLUGIN_SYMBOL);
        goto out;
    }
    if (check_descriptor(plugin, path, errbuf, errlen) != 0)
        goto out;
    normalized = descriptor_normalize(plugin, &options);
    if (!normalized) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    if (sluice_options_check_table(normalized->options, reason, sizeof(reason)) != 0) {
        snprintf(errbuf, errlen, "%s: plugin '%s': %s", path, plugin->name, reason);
        goto out;
    }
    info = lt_dlgetinfo(handle);
    opened = info && info->filename ? info->filename : path;
    existing = find_loaded(reg, plugin->name);
    if (existing >= 0) {
        registry_entry *first = &reg->entries[existing];
        if (first->handle == handle) {
            /* The same file again: lt_dlopen only bumped its refcount. */
            snprintf(errbuf, errlen, "%s: plugin '%s' is already loaded from this file", path,
                     plugin->name);
        } else {
            snprintf(errbuf, errlen, "%s: duplicate plugin name '%s', already loaded from %s",
                     path, plugin->name, first->path);
        }
        if (dir_index != SIZE_MAX && first->dir_index != SIZE_MAX &&
            first->dir_index < dir_index)
            result = LOAD_SHADOWED;
        goto out;
    }
    if (reg->count == reg->capacity) {
        size_t capacity = reg->capacity ? reg->capacity * 2 : 8;
        registry_entry *grown = realloc(reg->entries, capacity * sizeof(*grown));
        if (!grown) {
            snprintf(errbuf, errlen, "%s: out of memory", path);
            goto out;
        }
        reg->entries = grown;
        reg->capacity = capacity;
    }
    entry = &reg->entries[reg->count];
    entry->path = strdup(opened);
    if (!entry->path) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        goto out;
    }
    entry->handle = handle;
    entry->plugin = normalized;
    entry->options = options;
    entry->dir_index = dir_index;
    reg->count++;
    handle = NULL; /* owned by the registry now, with the copy */
    normalized = NULL;
    options = NULL;
    result = LOAD_OK;
out:
    free(normalized);
    free(options);
    if (handle)
        lt_dlclose(handle);
    if (advise)
        lt_dladvise_destroy(&advise);
    return result;
}

int sluice_registry_load_file(sluice_registry *reg, const char *path, char *errbuf,
                              size_t errlen)
{
    if (!reg || !path || !*path) {
        snprintf(errbuf, errlen, "no plugin file given");
        return -1;
    }
    return load_module(reg, path, SIZE_MAX, errbuf, errlen) == LOAD_OK ? 0 : -1;
}

/* 1 if `file` names a loadable module (ends with SLUICE_MODULE_EXT). */
static int is_module_file(const char *file)
{
    size_t len = strlen(file);
    size_t ext = strlen(SLUICE_MODULE_EXT);

    return len > ext && strcmp(file + len - ext, SLUICE_MODULE_EXT) == 0;
}

/* Sorted module file names of `dir` (caller frees each and the array),
 * count in *count_out. Returns NULL with *count_out 0 if none/unreadable. */
static char **list_modules(const char *dir, size_t *count_out)
{
    struct dirent **names = NULL;
    char **files = NULL;
    size_t count = 0;
    int n = scandir(dir, &names, NULL, alphasort);

    *count_out = 0;
    if (n <= 0)
        goto out;
    files = calloc((size_t)n, sizeof(*files));
    if (!files)
        goto out;
    for (int i = 0; i < n; i++) {
        if (is_module_file(names[i]->d_name)) {
            files[count] = strdup(names[i]->d_name);
            if (files[count])
                count++;
        }
    }
    *count_out = count;
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (files && count == 0) {
        free(files);
        files = NULL;
    }
    return files;
}

/* Try the module files named after plugin `name` in every search dir.
 * Returns the descriptor or NULL; remembers the first real error. */
static const sluice_plugin *require_by_file_name(sluice_registry *reg, const char *name,
                                                 char *errbuf, size_t errlen, int *have_error)
{
    char underscored[256];
    const char *candidates[2];
    size_t name_len = strlen(name);

    if (name_len >= sizeof(underscored))
        return NULL;
    memcpy(underscored, name, name_len + 1);
    for (char *p = underscored; *p; p++) {
        if (*p == '-')
            *p = '_';
    }
    candidates[0] = name;
    candidates[1] = strcmp(underscored, name) != 0 ? underscored : NULL;
    for (size_t d = 0; d < reg->dir_count; d++) {
        for (size_t c = 0; c < 2 && candidates[c]; c++) {
            char path[PATH_MAX];
            char why[1024];
            struct stat st;
            long index;
            int len = snprintf(path, sizeof(path), "%s/%s" SLUICE_MODULE_EXT, reg->dirs[d],
                               candidates[c]);
            if (len < 0 || (size_t)len >= sizeof(path) || stat(path, &st) != 0)
                continue;
            if (load_module(reg, path, d, why, sizeof(why)) != LOAD_OK) {
                if (!*have_error) {
                    snprintf(errbuf, errlen, "%s", why);
                    *have_error = 1;
                }
                continue;
            }
            index = find_loaded(reg, name);
            if (index >= 0)
                return reg->entries[index].plugin;
            /* The file holds another plugin: keep it, it is valid. */
        }
    }
    return NULL;
}

const sluice_plugin *sluice_registry_require(sluice_registry *reg, const char *name,
                                             char *errbuf, size_t errlen)
{
    int have_error = 0;
    const sluice_plugin *plugin = NULL;
    long index;
    char closest[128] = "";
    size_t best_distance = 3;

    if (!reg || !name || !*name) {
        snprintf(errbuf, errlen, "no plugin name given");
        return NULL;
    }
    if (!plugin_name_valid(name)) {
        /* Also keeps a name like "../x" from reaching outside the path. */
        snprintf(errbuf, errlen, "invalid plugin name '%s' (use [A-Za-z0-9_.-])", name);
        return NULL;
    }
    index = find_loaded(reg, name);
    if (index >= 0)
        return reg->entries[index].plugin;
    plugin = require_by_file_name(reg, name, errbuf, errlen, &have_error);
    if (plugin)
        return plugin;
    /* The file may be named differently from the plugin: look inside
     * every module of the search path (noting the closest name seen). */
    for (size_t d = 0; d < reg->dir_count && !plugin; d++) {
        size_t count = 0;
        char **files = list_modules(reg->dirs[d], &count);
        for (size_t f = 0; f < count; f++) {
            char path[PATH_MAX];
            char why[1024];
            int len = snprintf(path, sizeof(path), "%s/%s", reg->dirs[d], files[f]);
            if (!plugin && len > 0 && (size_t)len < sizeof(path)) {
                lt_dlhandle probe = lt_dlopenext(path);
                const sluice_plugin *found =
                    probe ? (const sluice_plugin *)lt_dlsym(probe, SLUICE_PLUGIN_SYMBOL) : NULL;
                int valid = found && found->abi_version == SLUICE_ABI_VERSION &&
                            descriptor_size_known(found) && found->name;
                int match = valid && strcmp(found->name, name) == 0;
                if (valid && !match) {
                    size_t distance = sluice_edit_distance(name, found->name);
                    if (distance <= 2 && distance < best_distance) {
                        snprintf(closest, sizeof(closest), "%s", found->name);
                        best_distance = distance;
                    }
                }
                if (probe)
                    lt_dlclose(probe);
                if (match) {
                    if (load_module(reg, path, d, why, sizeof(why)) == LOAD_OK) {
                        index = find_loaded(reg, name);
                        plugin = index >= 0 ? reg->entries[index].plugin : NULL;
                    } else if (!have_error) {
                        snprintf(errbuf, errlen, "%s", why);
                        have_error = 1;
                    }
                }
            }
            free(files[f]);
        }
        free(files);
    }
    if (!plugin && !have_error) {
        size_t used = (size_t)snprintf(errbuf, errlen, "plugin '%s' not found", name);
        if (closest[0] && used < errlen)
            used += (size_t)snprintf(errbuf + used, errlen - used, " (did you mean '%s'?)",
                                     closest);
        if (used < errlen)
            used += (size_t)snprintf(errbuf + used, errlen - used, " (searched:");
        for (size_t d = 0; d < reg->dir_count && used < errlen; d++)
            used += (size_t)snprintf(errbuf + used, errlen - used, " %s", reg->dirs[d]);
        if (reg->dir_count == 0 && used < errlen)
            used += (size_t)snprintf(errbuf + used, errlen - used, " nothing");
        if (used < errlen)
            snprintf(errbuf + used, errlen - used, "; set SLUICE_PLUGIN_PATH)");
    }
    return plugin;
}

size_t sluice_registry_load_all(sluice_registry *reg,
                                void (*warn)(const char *msg, void *user), void *user)
{
    size_t loaded = 0;

    if (!reg)
        return 0;
    for (size_t d = 0; d < reg->dir_count; d++) {
        size_t count = 0;
        char **files = list_modules(reg->dirs[d], &count);
        for (size_t f = 0; f < count; f++) {
            char path[PATH_MAX];
            char why[1024];
            int len = snprintf(path, sizeof(path), "%s/%s", reg->dirs[d], files[f]);
            if (len > 0 && (size_t)len < sizeof(path)) {
                load_result result = load_module(reg, path, d, why, sizeof(why));
                if (result == LOAD_OK)
                    loaded++;
                else if (result == LOAD_FAILED && warn)
                    warn(why, user);
            }
            free(files[f]);
        }
        free(files);
    }
    return loaded;
}

size_t sluice_registry_count(const sluice_registry *reg)
{
    return reg ? reg->count : 0;
}

const sluice_plugin *sluice_registry_at(const sluice_registry *reg, size_t i)
{
    return reg && i < reg->count ? reg->entries[i].plugin : NULL;
}

const char *sluice_registry_path_at(const sluice_registry *reg, size_t i)
{
    return reg && i < reg->count ? reg->entries[i].path : NULL;
}

void sluice_registry_destroy(sluice_registry **reg_p)
{
    sluice_registry *reg;

    if (!reg_p || !*reg_p)
        return;
    reg = *reg_p;
    for (size_t i = 0; i < reg->count; i++) {
        lt_dlclose(reg->entries[i].handle);
        free(reg->entries[i].plugin);
        free(reg->entries[i].options);
        free(reg->entries[i].path);
    }
    free(reg->entries);
    for (size_t i = 0; i < reg->dir_count; i++)
        free(reg->dirs[i]);
    free(reg->dirs);
    free(reg);
    lt_dlexit();
    *reg_p = NULL;
}
