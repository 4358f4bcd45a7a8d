/* replay_main.c: the main of a harness built without libFuzzer (any
 * compiler, `make check`): it feeds files to LLVMFuzzerTestOneInput one at
 * a time, so the seeds and every committed crash input keep running
 * without clang. With no argument it replays tests/fuzz/corpus/NAME and
 * tests/fuzz/regress/NAME (NAME = fuzz_harness_name); arguments name
 * files or directories instead. A broken property aborts (the test
 * fails); exit 1 when an input cannot be read or there is none. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read the whole file at `path` into a new buffer (caller frees) and its
 * size into *size. Returns NULL with errno set on failure. */
static uint8_t *read_input(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *data = NULL, *grown;
    size_t used = 0, cap = 0, got;

    if (!file)
        return NULL;
    do {
        if (used == cap) {
            cap = cap ? cap * 2 : 4096;
            grown = realloc(data, cap);
            if (!grown) {
                free(data);
                data = NULL;
                goto out;
            }
            data = grown;
        }
        got = fread(data + used, 1, cap - used, file);
        used += got;
    } while (got > 0);
    if (ferror(file)) {
        free(data);
        data = NULL;
        errno = EIO;
        goto out;
    }
    *size = used;
out:
    fclose(file);
    return data;
}

/* Run the input at `path`. Returns 0, or -1 (message printed) when it
 * cannot be read. */
static int replay_file(const char *path)
{
    size_t size = 0;
    uint8_t *data = read_input(path, &size);

    if (!data) {
        fprintf(stderr, "%s: cannot read %s: %s\n", fuzz_harness_name, path, strerror(errno));
        return -1;
    }
    /* libFuzzer hands the input over in a buffer of exactly its size, so
     * a read past the end is caught under ASan: do the same. */
    uint8_t *exact = realloc(data, size ? size : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

/* Run every file of directory `dir` in name order (dot files skipped),
 * or the file `dir` itself. Adds the count to *count. Returns 0, or -1
 * when something cannot be read; a directory that does not exist is an
 * error only when `required`. */
static int replay_path(const char *dir, int required, size_t *count)
{
    struct dirent **names = NULL;
    struct stat st;
    int n, result = 0;

    if (stat(dir, &st) != 0) {
        if (!required && errno == ENOENT)
            return 0;
        fprintf(stderr, "%s: %s: %s\n", fuzz_harness_name, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(dir);
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: cannot list %s: %s\n", fuzz_harness_name, dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (names[i]->d_name[0] != '.' && result == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            (*count)++;
            result = replay_file(path);
        }
        free(names[i]);
    }
    free(names);
    return result;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int result = 0;
    char corpus[4096], regress[4096];

    LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (int i = 1; i < argc && result == 0; i++)
            result = replay_path(argv[i], 1, &count);
    } else {
        snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%s", fuzz_srcdir(),
                 fuzz_harness_name);
        snprintf(regress, sizeof(regress), "%s/tests/fuzz/regress/%s", fuzz_srcdir(),
                 fuzz_harness_name);
        result = replay_path(corpus, 1, &count);
        if (result == 0)
            result = replay_path(regress, 0, &count);
    }
    if (result == 0 && count == 0) {
        fprintf(stderr, "%s: no input to replay\n", fuzz_harness_name);
        result = -1;
    }
    if (result == 0)
        printf("%s: %zu inputs replayed, no property broken\n", fuzz_harness_name, count);
    return result == 0 ? 0 : 1;
}
