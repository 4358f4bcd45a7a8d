/* test_plugin.c: plugins for the loader and config unit tests, one module
 * per TEST_VARIANT (see tests/unit/config.mk): good source/transform/sink
 * and descriptors the registry must refuse. */
#include <stddef.h>
#include <string.h>
#include "sluice/plugin.h"

#ifndef TEST_VARIANT
#error "build with -DTEST_VARIANT=<n>"
#endif

#define VARIANT_SOURCE 1
#define VARIANT_TRANSFORM 2
#define VARIANT_SINK 3
#define VARIANT_BAD_ABI 4
#define VARIANT_BAD_SIZE 5
#define VARIANT_NO_SYMBOL 6
#define VARIANT_DUP_NAME 7
#define VARIANT_NEEDS_LIB 8
#define VARIANT_SINK_NO_WRITE 9
#define VARIANT_RESERVED_OPTION 10
#define VARIANT_DUP_OPTION 11
#define VARIANT_STATEFUL 12
#define VARIANT_ABI1 13          /* built against the ABI 1 header (abi1/) */
#define VARIANT_NEWER_SIZE 14    /* this ABI, a descriptor longer than it knows */
#define VARIANT_BAD_RANGE 15     /* a default outside the row's range */
#define VARIANT_LIMITS 16        /* rows with range, choices and kind */

#if TEST_VARIANT == VARIANT_NEEDS_LIB
/* Provided by libtestdep.la, which the test hides. */
int test_dependency_answer(void);
#endif

static sluice_status plugin_init(sluice_ctx *ctx, const json_t *config, void **state)
{
#if TEST_VARIANT == VARIANT_NEEDS_LIB
    *state = test_dependency_answer() == 42 ? (void *)config : NULL;
#else
    *state = (void *)config;
#endif
    return SLUICE_OK;
}

__attribute__((unused)) static sluice_status plugin_poll(sluice_ctx *ctx, void *state, sluice_batch *out)
{
    return SLUICE_EOF;
}

__attribute__((unused)) static sluice_status plugin_process(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    return SLUICE_OK;
}

__attribute__((unused)) static sluice_status plugin_write(sluice_ctx *ctx, void *state, sluice_batch *batch)
{
    return SLUICE_OK;
}

__attribute__((unused)) static const sluice_option source_options[] = {
    {"path", SLUICE_OPT_STRING, NULL, 1, 0, "input file"},
    {"count", SLUICE_OPT_INT, "3", 0, 0, "records per poll"},
    {"ratio", SLUICE_OPT_DOUBLE, "0.5", 0, 0, "a fraction"},
    {"verbose", SLUICE_OPT_BOOL, "false", 0, 0, "talk more"},
    {"tags", SLUICE_OPT_LIST, "[\"a\", \"b\"]", 0, 0, "labels"},
    {"extra", SLUICE_OPT_GROUP, "{}", 0, 0, "free-form settings"},
    {"token", SLUICE_OPT_STRING, NULL, 0, 1, "API token"},
    SLUICE_OPTION_END
};

__attribute__((unused)) static const sluice_option transform_options[] = {
    {"field", SLUICE_OPT_STRING, NULL, 1, 0, "field to touch"},
    {"value", SLUICE_OPT_STRING, "", 0, 0, "value to set"},
    SLUICE_OPTION_END
};

__attribute__((unused)) static const sluice_option sink_options[] = {
    {"url", SLUICE_OPT_STRING, "http://127.0.0.1:1/", 0, 0, "endpoint"},
    {"api_key", SLUICE_OPT_STRING, NULL, 0, 1, "API key"},
    {"batch", SLUICE_OPT_INT, "100", 0, 0, "records per request"},
    SLUICE_OPTION_END
};

#if TEST_VARIANT == VARIANT_BAD_RANGE
static const sluice_option bad_options[] = {
    {"workers", SLUICE_OPT_INT, "40", 0, 0, "parallel requests", .range = "1..32"},
    SLUICE_OPTION_END
};
#elif TEST_VARIANT == VARIANT_LIMITS
static const sluice_option limit_options[] = {
    {"workers", SLUICE_OPT_INT, "4", 0, 0, "parallel requests", .range = "1..32"},
    {"rate", SLUICE_OPT_DOUBLE, "5", 0, 0, "requests per second", .range = "0.1.."},
    {"mode", SLUICE_OPT_STRING, "api", 0, 0, "where members come from",
     .choices = "api|webhook|feed"},
    {"base_url", SLUICE_OPT_STRING, NULL, 0, 0, "the API", .kind = SLUICE_KIND_URL},
    {"pattern", SLUICE_OPT_STRING, "^a", 0, 0, "file names", .kind = SLUICE_KIND_REGEX},
    {"every", SLUICE_OPT_STRING, "15m", 0, 0, "interval", .kind = SLUICE_KIND_DURATION},
    {"listen", SLUICE_OPT_STRING, NULL, 0, 0, "address", .kind = SLUICE_KIND_HOSTPORT},
    {"kinds", SLUICE_OPT_LIST, "[]", 0, 0, "event kinds", .choices = "member|event"},
    SLUICE_OPTION_END
};
#elif TEST_VARIANT == VARIANT_RESERVED_OPTION
static const sluice_option bad_options[] = {
    {"hwm", SLUICE_OPT_INT, "4", 0, 0, "clashes with the stage-common key"},
    SLUICE_OPTION_END
};
#elif TEST_VARIANT == VARIANT_DUP_OPTION
static const sluice_option bad_options[] = {
    {"path", SLUICE_OPT_STRING, NULL, 0, 0, "first"},
    {"path", SLUICE_OPT_STRING, NULL, 0, 0, "second"},
    SLUICE_OPTION_END
};
#endif

#if TEST_VARIANT == VARIANT_SOURCE
#define P_NAME "test-source"
#define P_ROLE SLUICE_ROLE_SOURCE
#define P_OPTIONS source_options
#elif TEST_VARIANT == VARIANT_STATEFUL
#define P_NAME "test-stateful"
#define P_ROLE SLUICE_ROLE_TRANSFORM
#define P_OPTIONS transform_options
#elif TEST_VARIANT == VARIANT_TRANSFORM
#define P_NAME "test-transform"
#define P_ROLE SLUICE_ROLE_TRANSFORM
#define P_OPTIONS transform_options
#elif TEST_VARIANT == VARIANT_SINK || TEST_VARIANT == VARIANT_DUP_NAME || \
    TEST_VARIANT == VARIANT_SINK_NO_WRITE
#define P_NAME "test-sink"
#define P_ROLE SLUICE_ROLE_SINK
#define P_OPTIONS sink_options
#elif TEST_VARIANT == VARIANT_RESERVED_OPTION || TEST_VARIANT == VARIANT_DUP_OPTION || \
    TEST_VARIANT == VARIANT_BAD_RANGE
#define P_NAME "test-bad-options"
#define P_ROLE SLUICE_ROLE_TRANSFORM
#define P_OPTIONS bad_options
#elif TEST_VARIANT == VARIANT_ABI1
#define P_NAME "test-abi1"
#define P_ROLE SLUICE_ROLE_SOURCE
#define P_OPTIONS source_options
#elif TEST_VARIANT == VARIANT_LIMITS
#define P_NAME "test-limits"
#define P_ROLE SLUICE_ROLE_TRANSFORM
#define P_OPTIONS limit_options
#else
#define P_NAME "test-other"
#define P_ROLE SLUICE_ROLE_TRANSFORM
#define P_OPTIONS transform_options
#endif

#if TEST_VARIANT == VARIANT_NO_SYMBOL
/* Exported under another name: the loader must not find `sluice_plugin`. */
const struct sluice_plugin not_the_descriptor = {
#else
SLUICE_PLUGIN_DEFINE = {
#endif
#if TEST_VARIANT == VARIANT_BAD_ABI
    .abi_version = SLUICE_ABI_VERSION + 1,
    .struct_size = sizeof(struct sluice_plugin),
#elif TEST_VARIANT == VARIANT_BAD_SIZE
    .abi_version = 1,
    .struct_size = SLUICE_PLUGIN_SIZE_V1 - sizeof(void *), /* no ABI 1 size */
#elif TEST_VARIANT == VARIANT_NEWER_SIZE
    .abi_version = SLUICE_ABI_VERSION,
    .struct_size = sizeof(struct sluice_plugin) + sizeof(void *), /* from a newer sluice */
#else
    SLUICE_PLUGIN_HEADER,
#endif
    .name = P_NAME,
    .role = P_ROLE,
    .version = "0.0.1",
    .description = "unit-test plugin " P_NAME,
    .options = P_OPTIONS,
    .init = plugin_init,
    .poll = P_ROLE == SLUICE_ROLE_SOURCE ? plugin_poll : NULL,
    .process = P_ROLE == SLUICE_ROLE_TRANSFORM ? plugin_process : NULL,
    .flags = TEST_VARIANT == VARIANT_TRANSFORM ? SLUICE_PLUGIN_STATELESS : 0,
#if TEST_VARIANT == VARIANT_SINK_NO_WRITE
    .write = NULL,
#else
    .write = P_ROLE == SLUICE_ROLE_SINK ? plugin_write : NULL,
#endif
};
