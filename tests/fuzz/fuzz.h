/* fuzz.h: what the libFuzzer harnesses of tests/fuzz share: libFuzzer's
 * entry points, a broken property that stops the run, the source tree,
 * and the stage options of the shipped pipelines as the real loader
 * makes them. See docs/testing.md, "Fuzzing". */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Each harness defines these two. LLVMFuzzerInitialize runs once before
 * the first input (libFuzzer, or replay_main.c without libFuzzer);
 * LLVMFuzzerTestOneInput runs one input and returns 0. A broken property
 * calls fuzz_fail, never returns a value. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's name ("fuzz_wire"): the directories of its seeds and
 * regression inputs (tests/fuzz/corpus/NAME, tests/fuzz/regress/NAME).
 * Defined by each harness. */
extern const char fuzz_harness_name[];

/* Print "NAME: property broken: MESSAGE" on stderr and abort(): a crash to
 * libFuzzer (which keeps the input), a failed test to the replay driver. */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The top of the source tree: $top_srcdir when set (make check sets it),
 * else the directory configure ran from. Borrowed, static. */
const char *fuzz_srcdir(void);

/* Once per process: log errors only (a harness's inputs make plugins
 * warn by the thousand), and give the variables the shipped pipelines
 * read (${OMETRIA_BASE_URL} ...) placeholder values where unset, so their
 * stages validate. */
void fuzz_setup(void);

/* Load every plugin module of the build tree's plugin directory (and of
 * $SLUICE_PLUGIN_PATH) for good, before any registry does. libFuzzer
 * counts coverage in a module from the moment it is loaded and cannot
 * forget it: a module the registry unloads again (lt_dlclose of a probe,
 * sluice_registry_destroy) would crash the next run. Kept loaded, the
 * registry's loads and unloads only count references. Once per process;
 * modules that do not load are left to the registry to report. */
void fuzz_keep_plugins_loaded(void);

/* The options of stage `stage` of pipelines/FILE, loaded by the real
 * loader (registry + sluice_pipeline_load: @include resolved, validated,
 * defaults filled): exactly what the plugin's init() receives. Returns a
 * new reference (caller owns); fuzz_fail when the file does not load or
 * has no such stage. The plugins come from the build tree (kept loaded,
 * see fuzz_keep_plugins_loaded). */
json_t *fuzz_stage_options(const char *file, const char *stage);

/* 1 when text is a canonical event id: 32 lowercase hex digits. */
int fuzz_is_event_id(const char *text);

/* Copy of data[0..size) with a NUL after it (caller frees); aborts on
 * ENOMEM. */
char *fuzz_text(const uint8_t *data, size_t size);
#endif
