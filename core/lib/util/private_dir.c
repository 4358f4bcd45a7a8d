/* private_dir.c: directories for sluice's state, created in one place with
 * one mode (private_dir.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util/private_dir.h"

int sluice_make_private_dirs(const char *path)
{
    char partial[4096];
    size_t len = strlen(path);
    struct stat st;

    if (len == 0 || len >= sizeof(partial)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(partial, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        char saved = partial[i];
        if (saved != '/' && saved != '\0')
            continue;
        partial[i] = '\0';
        if (mkdir(partial, SLUICE_PRIVATE_DIR_MODE) != 0 && errno != EEXIST)
            return -1;
        partial[i] = saved;
    }
    /* EEXIST also covers a file in the way: say so. */
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}
