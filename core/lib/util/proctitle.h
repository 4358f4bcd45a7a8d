/* proctitle.h: the title `ps` and `top` show for a sluice process, e.g.
 * "sluice: acme-ometria-api/derive" for a stage. There is no libc or
 * libsystemd helper on Linux: like PostgreSQL and nginx, the title is
 * written over the memory of the process's argument strings (what
 * /proc/PID/cmdline shows: `ps`, `top -c`), and the kernel's 15-character
 * task name (prctl PR_SET_NAME: `top`, `ps -o comm`) gets its end.
 * Implemented in util/proctitle.c. */
#ifndef SLUICE_UTIL_PROCTITLE_H
#define SLUICE_UTIL_PROCTITLE_H

/* Remember where main()'s argument strings lie (argv[0] to the end of
 * argv[argc - 1], contiguous as the kernel lays them out), and point
 * argv[0..argc-1] at copies of them (allocated once, never freed), so a
 * title written over the originals changes nothing the program reads.
 * Call once from main(), before any pointer into argv is kept. */
void sluice_proctitle_init(int argc, char **argv);

/* Set the title to the printf-style text: the argument area holds as much
 * of it as fits (the rest zeroed), the task name its last 15 characters.
 * Without sluice_proctitle_init, only the task name is set. */
void sluice_proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
