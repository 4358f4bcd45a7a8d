/* wake.c: the runners' wake-ups (wake.h): a registry of eventfds, one per
 * runner, written by sluice_unit_wake(), and the watcher thread that turns
 * the stage signals into flag changes plus a wake-up. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include "stage.h"
#include "wake.h"

/* The signals a stage process handles with flags (supervisor.c). */
static const int stage_signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static int *wake_fds;                /* registered eventfds */
static size_t wake_count, wake_cap;

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned watch_users;         /* units between begin and end */
static int watch_sigfd = -1;         /* signalfd of the taken signals */
static int watch_stopfd = -1;        /* eventfd: the watcher must leave */
static pthread_t watch_thread;

int sluice_wake_open(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int result = -1;

    if (fd < 0)
        return -1;
    pthread_mutex_lock(&wake_lock);
    if (wake_count == wake_cap) {
        size_t cap = wake_cap ? wake_cap * 2 : 16;
        int *grown = realloc(wake_fds, cap * sizeof(*grown));
        if (!grown) {
            errno = ENOMEM;
            goto out;
        }
        wake_fds = grown;
        wake_cap = cap;
    }
    wake_fds[wake_count++] = fd;
    result = fd;
out:
    pthread_mutex_unlock(&wake_lock);
    if (result < 0)
        close(fd);
    return result;
}

void sluice_wake_close(int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&wake_lock);
    for (size_t i = 0; i < wake_count; i++) {
        if (wake_fds[i] == fd) {
            wake_fds[i] = wake_fds[--wake_count];
            break;
        }
    }
    if (wake_count == 0) {
        free(wake_fds);
        wake_fds = NULL;
        wake_cap = 0;
    }
    pthread_mutex_unlock(&wake_lock);
    close(fd);
}

void sluice_wake_drain(int fd)
{
    uint64_t count;

    if (fd >= 0 && read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return; /* nothing else to do: the next wait wakes at once again */
}

void sluice_unit_wake(void)
{
    const uint64_t one = 1;

    pthread_mutex_lock(&wake_lock);
    for (size_t i = 0; i < wake_count; i++) {
        /* EAGAIN: the counter is full, the fd readable anyway */
        if (write(wake_fds[i], &one, sizeof(one)) < 0 && errno != EAGAIN)
            continue;
    }
    pthread_mutex_unlock(&wake_lock);
}

/* The handler installed for `signo`, if it is a plain function (not
 * SIG_DFL, SIG_IGN or an SA_SIGINFO handler), else NULL. */
static void (*flag_handler(int signo))(int)
{
    struct sigaction sa;

    if (sigaction(signo, NULL, &sa) != 0 || (sa.sa_flags & SA_SIGINFO) ||
        sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
        return NULL;
    return sa.sa_handler;
}

/* The watcher thread: for each signal taken, its handler (which sets the
 * flags), then a wake-up of every runner; until the stop eventfd fires. */
static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd fds[2] = {{.fd = watch_sigfd, .events = POLLIN},
                                {.fd = watch_stopfd, .events = POLLIN}};
        struct signalfd_siginfo info;
        int taken = 0;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents)
            break;
        while (read(watch_sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
            void (*handler)(int) = flag_handler((int)info.ssi_signo);
            if (handler)
                handler((int)info.ssi_signo);
            taken = 1;
        }
        if (taken)
            sluice_unit_wake();
    }
    return NULL;
}

int sluice_wake_signals_begin(sigset_t *old)
{
    sigset_t taken;
    int result = -1;

    sigemptyset(&taken);
    for (size_t i = 0; i < sizeof(stage_signals) / sizeof(stage_signals[0]); i++) {
        if (flag_handler(stage_signals[i]))
            sigaddset(&taken, stage_signals[i]);
    }
    pthread_mutex_lock(&watch_lock);
    if (pthread_sigmask(SIG_BLOCK, &taken, old) != 0)
        goto out;
    if (watch_users == 0) {
        watch_sigfd = signalfd(-1, &taken, SFD_NONBLOCK | SFD_CLOEXEC);
        watch_stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (watch_sigfd < 0 || watch_stopfd < 0 ||
            pthread_create(&watch_thread, NULL, watch_main, NULL) != 0) {
            if (watch_sigfd >= 0)
                close(watch_sigfd);
            if (watch_stopfd >= 0)
                close(watch_stopfd);
            watch_sigfd = watch_stopfd = -1;
            pthread_sigmask(SIG_SETMASK, old, NULL);
            goto out;
        }
    }
    watch_users++;
    result = 0;
out:
    pthread_mutex_unlock(&watch_lock);
    return result;
}

void sluice_wake_signals_end(const sigset_t *old)
{
    const uint64_t one = 1;

    pthread_mutex_lock(&watch_lock);
    if (watch_users > 0 && --watch_users == 0) {
        if (write(watch_stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            pthread_cancel(watch_thread); /* cannot happen on a fresh eventfd */
        pthread_join(watch_thread, NULL);
        close(watch_sigfd);
        close(watch_stopfd);
        watch_sigfd = watch_stopfd = -1;
    }
    pthread_mutex_unlock(&watch_lock);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}
