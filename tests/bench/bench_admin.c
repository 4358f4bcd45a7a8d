/* bench_admin.c: the cost of one admin endpoint scrape: gather (the
 * statistics and status files, /proc), assess and render /metrics, for
 * every pipeline directory under DIR (each with a run/ dir a real run
 * left), RUNS times; prints the median and the worst in milliseconds.
 * Used by bench-admin.sh. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "admin.h"

/* Monotonic time in milliseconds. */
static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* qsort order of doubles. */
static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    sluice_admin_pipeline *list = NULL;
    size_t n = 0, cap = 0;
    int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20;
    double *took;
    size_t bytes = 0;
    sluice_admin_health health;
    DIR *dir;
    struct dirent *e;

    if (argc < 2 || runs < 1) {
        fprintf(stderr, "usage: bench_admin DIR [RUNS]\n");
        return 64;
    }
    dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 66;
    }
    while ((e = readdir(dir)) != NULL) {
        char path[2048];
        json_t *status;

        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            list = realloc(list, cap * sizeof(*list));
            if (!list)
                return 1;
        }
        memset(&list[n], 0, sizeof(list[n]));
        snprintf(list[n].name, sizeof(list[n].name), "%s", e->d_name);
        snprintf(list[n].runtime_dir, sizeof(list[n].runtime_dir), "%s/%s/run", argv[1], e->d_name);
        snprintf(path, sizeof(path), "%s/supervisor.status", list[n].runtime_dir);
        status = json_load_file(path, 0, NULL);
        list[n].supervisor_pid = (long)json_integer_value(json_object_get(status, "pid"));
        list[n].exit_code = -1;
        json_decref(status);
        n++;
    }
    closedir(dir);
    took = calloc((size_t)runs, sizeof(*took));
    if (!took)
        return 1;
    sluice_admin_health_defaults(&health);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        json_t *model = sluice_admin_gather(list, n, 0, 1);
        char *text;

        sluice_admin_assess(model, NULL, 0, &health, 0);
        text = sluice_admin_prometheus(model);
        took[r] = now_ms() - t0;
        bytes = text ? strlen(text) : 0;
        free(text);
        json_decref(model);
    }
    qsort(took, (size_t)runs, sizeof(*took), by_value);
    printf("%zu %.1f %.1f %zu\n", n, took[(runs - 1) / 2], took[runs - 1], bytes);
    free(took);
    free(list);
    return 0;
}
