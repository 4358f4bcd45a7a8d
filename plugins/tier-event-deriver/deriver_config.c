/* deriver_config.c: the tier-event-deriver's options (tier ladder,
 * close-to-upgrade threshold, switches) parsed and checked once. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deriver_internal.h"
#include "plugin_text.h"

void deriver_config_clear(deriver_config *cfg)
{
    for (size_t i = 0; i < cfg->ladder_count; i++)
        free(cfg->ladder[i].name);
    free(cfg->ladder);
    memset(cfg, 0, sizeof(*cfg));
}

/* Parse close_threshold: an integer, "100" or "10%". 0 or -1. */
static int parse_threshold(const json_t *value, deriver_config *cfg, char *err, size_t errlen)
{
    const char *text;
    char *end;
    if (!value || json_is_null(value)) {
        cfg->threshold_points = 100;
        return 0;
    }
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        cfg->threshold_points = json_integer_value(value);
        return 0;
    }
    text = json_string_value(value);
    if (!text || !*text)
        goto bad;
    errno = 0;
    if (text[strlen(text) - 1] == '%') {
        double percent = strtod(text, &end);
        if (errno || end == text || *end != '%' || end[1] != '\0' || percent < 0 ||
            percent > 100)
            goto bad;
        cfg->threshold_is_percent = 1;
        cfg->threshold_percent = percent;
        return 0;
    } else {
        long long points = strtoll(text, &end, 10);
        if (errno || end == text || *end != '\0' || points < 0)
            goto bad;
        cfg->threshold_points = points;
        return 0;
    }
bad:
    text_format(err, errlen, "close_threshold: expected points (100) or a percentage (\"10%%\")");
    return -1;
}

int deriver_config_parse(const json_t *options, deriver_config *cfg, char *err, size_t errlen)
{
    const json_t *ladder = json_object_get(options, "tier_ladder");
    const json_t *flag;
    json_t *item;
    size_t i;
    int result = -1;

    memset(cfg, 0, sizeof(*cfg));
    cfg->derive_points = 1;
    cfg->derive_opt = 1;
    if (!json_is_array(ladder) || json_array_size(ladder) == 0) {
        text_format(err, errlen, "tier_ladder: a non-empty list of tier names (lowest first) "
                              "or of groups { name = \"Gold\"; points = 5000; } is required");
        goto out;
    }
    cfg->ladder = calloc(json_array_size(ladder), sizeof(deriver_tier));
    if (!cfg->ladder)
        goto out;
    json_array_foreach(ladder, i, item) {
        deriver_tier *tier = &cfg->ladder[i];
        const char *name = json_string_value(item);
        if (json_is_object(item)) {
            const json_t *points = json_object_get(item, "points");
            name = json_string_value(json_object_get(item, "name"));
            if (points && (!json_is_integer(points) || json_integer_value(points) < 0)) {
                text_format(err, errlen, "tier_ladder[%zu]: 'points' must be a non-negative "
                                      "integer", i);
                goto out;
            }
            tier->has_points = points != NULL;
            tier->points = points ? json_integer_value(points) : 0;
        }
        if (!name || !*name) {
            text_format(err, errlen, "tier_ladder[%zu]: a tier name is required", i);
            goto out;
        }
        if (deriver_tier_index(cfg, name) >= 0) {
            text_format(err, errlen, "tier_ladder[%zu]: tier '%s' listed twice", i, name);
            goto out;
        }
        tier->name = strdup(name);
        if (!tier->name)
            goto out;
        cfg->ladder_count++;
    }
    if (parse_threshold(json_object_get(options, "close_threshold"), cfg, err, errlen))
        goto out;
    if (cfg->threshold_is_percent) {
        for (i = 1; i < cfg->ladder_count; i++) {
            if (!cfg->ladder[i].has_points) {
                text_format(err, errlen, "close_threshold \"%g%%\" needs the entry points of "
                                      "every tier above the first in tier_ladder "
                                      "({ name = ...; points = ...; }); '%s' has none",
                         cfg->threshold_percent, cfg->ladder[i].name);
                goto out;
            }
        }
    }
    if ((flag = json_object_get(options, "derive_points")) && json_is_boolean(flag))
        cfg->derive_points = json_is_true(flag);
    if ((flag = json_object_get(options, "derive_opt")) && json_is_boolean(flag))
        cfg->derive_opt = json_is_true(flag);
    result = 0;
out:
    if (result != 0) {
        if (!err[0])
            text_format(err, errlen, "out of memory");
        deriver_config_clear(cfg);
    }
    return result;
}

int deriver_tier_index(const deriver_config *cfg, const char *tier)
{
    for (size_t i = 0; tier && i < cfg->ladder_count; i++) {
        if (cfg->ladder[i].name && strcmp(cfg->ladder[i].name, tier) == 0)
            return (int)i;
    }
    return -1;
}

double deriver_close_threshold(const deriver_config *cfg, const char *next_tier)
{
    int index;
    if (!cfg->threshold_is_percent)
        return (double)cfg->threshold_points;
    index = deriver_tier_index(cfg, next_tier);
    if (index < 0 || !cfg->ladder[index].has_points)
        return -1;
    return (double)cfg->ladder[index].points * cfg->threshold_percent / 100.0;
}
