/* proctitle.c: process titles (proctitle.h): the argument strings
 * overwritten in place, the task name set with prctl(PR_SET_NAME). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "util/proctitle.h"

static char *area;       /* argv[0]'s first byte */
static size_t area_len;  /* bytes up to the end of the last argument's NUL */

void sluice_proctitle_init(int argc, char **argv)
{
    char *end;

    if (argc <= 0 || !argv || !argv[0])
        return;
    end = argv[0] + strlen(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (argv[i] != end + 1)   /* not contiguous: use what is */
            break;
        end = argv[i] + strlen(argv[i]);
    }
    area = argv[0];
    area_len = (size_t)(end - argv[0]) + 1;
    /* the program reads its arguments from copies from now on (kept for
     * the life of the process), so a title never changes what it reads */
    for (int i = 0; i < argc; i++) {
        char *copy = strdup(argv[i]);

        if (copy)
            argv[i] = copy;
    }
}

void sluice_proctitle_set(const char *fmt, ...)
{
    char title[512];
    size_t len;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    len = strlen(title);
#ifdef __linux__
    /* the task name keeps the end: the stage is what tells them apart */
    prctl(PR_SET_NAME, len > 15 ? title + len - 15 : title, 0, 0, 0);
#endif
    if (!area || area_len < 2)
        return;
    memset(area, 0, area_len);
    memcpy(area, title, len < area_len - 1 ? len : area_len - 1);
}
