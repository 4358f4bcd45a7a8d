/* run_lock.c: the lock files of `sluice run` (run_lock.h): flock(2) on a
 * file holding the holder's pid, a registry of the pipeline locks this
 * process holds so a forked child can let go of the others. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "run_lock.h"

/* Pipeline locks this process took (a fleet holds one per pipeline). */
#define MAX_HELD 4096
static int held[MAX_HELD];
static size_t held_count;

/* The pid written in the lock file `fd`, or 0 if it holds none. */
static pid_t read_holder(int fd)
{
    char text[32];
    ssize_t got = pread(fd, text, sizeof(text) - 1, 0);
    char *end;
    long pid;

    if (got <= 0)
        return 0;
    text[got] = '\0';
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || pid <= 0)
        return 0;
    return (pid_t)pid;
}

int sluice_lock_take(const char *path, pid_t *holder)
{
    char text[32];
    int len, written;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int result = -1;

    *holder = 0;
    if (fd < 0)
        goto out;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;

        if (saved == EWOULDBLOCK)
            *holder = read_holder(fd);
        close(fd);
        errno = saved;
        goto out;
    }
    len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    /* the pid is for messages only: a failure to write it loses nothing */
    written = ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)len, 0) == len;
    (void)written;
    result = fd;
out:
    return result;
}

int sluice_pipeline_lock(const sluice_pipeline_def *def, int *busy, pid_t *holder_out,
                         char *errbuf, size_t errlen)
{
    char path[4096];
    pid_t holder = 0;
    int fd = -1;

    *busy = 0;
    if (snprintf(path, sizeof(path), "%s/%s", def->state_dir, SLUICE_LOCK_FILE) >=
        (int)sizeof(path)) {
        snprintf(errbuf, errlen, "%s: state_dir %s: path too long for its lock file",
                 def->file, def->state_dir);
        goto out;
    }
    if (held_count == MAX_HELD) {
        snprintf(errbuf, errlen, "%s: more than %d pipelines in one sluice run", def->file,
                 MAX_HELD);
        goto out;
    }
    fd = sluice_lock_take(path, &holder);
    if (fd < 0 && errno == EWOULDBLOCK) {
        *busy = 1;
        if (holder > 0)
            snprintf(errbuf, errlen, "pipeline %s is already running (pid %ld)", def->name,
                     (long)holder);
        else
            snprintf(errbuf, errlen, "pipeline %s is already running", def->name);
    } else if (fd < 0) {
        snprintf(errbuf, errlen, "%s: cannot lock %s: %s", def->file, path, strerror(errno));
    } else {
        held[held_count++] = fd;
    }
out:
    if (holder_out)
        *holder_out = holder;
    return fd;
}

void sluice_pipeline_unlock(int *fd_p)
{
    if (*fd_p < 0)
        return;
    for (size_t i = 0; i < held_count; i++) {
        if (held[i] == *fd_p) {
            held[i] = held[--held_count];
            break;
        }
    }
    close(*fd_p);
    *fd_p = -1;
}

void sluice_lock_keep_only(int keep)
{
    size_t kept = 0;

    for (size_t i = 0; i < held_count; i++) {
        if (held[i] == keep)
            held[kept++] = held[i];
        else
            close(held[i]);
    }
    held_count = kept;
}
