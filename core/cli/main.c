/* main.c: the sluice command line: dispatches to run, check, plugins, dlq. */
#include "config.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("sluice %s\n", PACKAGE_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: sluice --version\n");
    return 64;
}
