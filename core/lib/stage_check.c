/* stage_check.c: the plugins' check() callbacks and the SDK calls they use
 * (sluice_check_error, sluice_check_stage): the state of one check under
 * way, the stage being checked and where its problems go. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "stage_check.h"

struct sluice_check {
    const sluice_pipeline_def *def;
    size_t index;                  /* the stage being checked */
    sluice_check_report_fn report;
    void *user;
    size_t problems;
};

void sluice_check_error(sluice_check *check, const char *option, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    if (!check || !fmt)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    check->problems++;
    check->report(check->user, check->index, option, text);
}

const json_t *sluice_check_stage(sluice_check *check, int offset, const char **plugin)
{
    long at;

    if (plugin)
        *plugin = NULL;
    if (!check)
        return NULL;
    at = (long)check->index + offset;
    if (at < 0 || (size_t)at >= check->def->stage_count)
        return NULL;
    if (plugin)
        *plugin = check->def->stages[at].plugin_name;
    return check->def->stages[at].config;
}

size_t sluice_check_stage_run(const sluice_pipeline_def *def, size_t index,
                              sluice_check_report_fn report, void *user)
{
    const sluice_stage_def *stage = &def->stages[index];
    sluice_check check = {def, index, report, user, 0};

    if (!stage->plugin || !stage->plugin->check || !stage->config)
        return 0;
    stage->plugin->check(&check, stage->config);
    return check.problems;
}
