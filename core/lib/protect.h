/* protect.h: what every sluice process does first to keep its secrets and
 * its state private: no core dumps (they would hold API keys and webhook
 * secrets) and files only its user can read. Implemented in protect.c;
 * see docs/configuration.md, "Secrets in memory and on disk". */
#ifndef SLUICE_PROTECT_H
#define SLUICE_PROTECT_H

/* Environment variable that allows core dumps (value "1"), for debugging. */
#define SLUICE_ALLOW_CORE_ENV "SLUICE_ALLOW_CORE"

/* Protect the calling process; the processes it forks inherit all of it
 * (stage processes are forked, never exec'd):
 * - the umask gains 077, so every file it creates (state.db and its -wal
 *   and -shm, pid and statistics files, file-sink output) is 0600 and
 *   every directory 0700, whatever the directory they are made in;
 * - unless `allow_core_dumps`: RLIMIT_CORE is 0 (soft and hard, so a
 *   plugin cannot raise it) and the process is not dumpable
 *   (PR_SET_DUMPABLE 0: no core file, no ptrace attach by the same user,
 *   /proc/PID/environ and /proc/PID/mem readable by root only).
 * Returns 0, or -1 with errno set when the kernel refused a step (the
 * others are still applied); *what names the step that failed. */
int sluice_protect_process(int allow_core_dumps, const char **what);

/* 1 if the environment asks for core dumps (SLUICE_ALLOW_CORE=1), else 0. */
int sluice_core_dumps_allowed(void);
#endif
