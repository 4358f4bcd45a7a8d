/* fleet.h: `sluice run --dir DIR`: every *.cfg of a directory runs as its
 * own pipeline (its own supervisor process and process group), and a
 * reload (SIGHUP, `sluice reload`) re-reads the directory: new files
 * start, removed files drain and stop, changed files drain and restart,
 * unchanged pipelines are not touched. A file that fails to load is
 * refused (its FILE:LINE error logged and kept here) and the version
 * that runs, if any, keeps running. A pipeline that fails for good stays
 * failed (logged at error) and the others run on; the next reload starts
 * it again. Implemented in fleet.c (the directory and the processes) and
 * fleet_state.c (what sluice_fleet_snapshot() reads); see
 * docs/operations.md "Running a fleet". */
#ifndef SLUICE_FLEET_H
#define SLUICE_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervisor.h"

/* What a pipeline of the fleet is doing. */
typedef enum sluice_fleet_state {
    SLUICE_FLEET_STARTING,  /* loaded, waiting to start (its lock still held
                               by its previous version's processes) */
    SLUICE_FLEET_RUNNING,   /* its supervisor runs */
    SLUICE_FLEET_DRAINING,  /* stopping: removed, or changed and about to
                               restart with the new version */
    SLUICE_FLEET_FAILED,    /* stopped for good (gave up restarting, fatal
                               stage error, its lock is held by another
                               sluice run); last_error says why */
    SLUICE_FLEET_REFUSED,   /* its file failed to load and no version of it
                               runs; last_error holds FILE:LINE: message */
    SLUICE_FLEET_STOPPED    /* its source finished (exit 0) */
} sluice_fleet_state;

/* "starting", "running", "draining", "failed", "refused", "stopped". */
const char *sluice_fleet_state_name(sluice_fleet_state state);

/* Most stage processes a snapshot lists per pipeline. */
#define SLUICE_FLEET_STAGE_PIDS_MAX 64

/* One stage process of a pipeline. */
typedef struct sluice_fleet_stage_pid {
    char label[128];        /* stage name ("map#2" for instance 2;
                               "a+b" for a placement group) */
    pid_t pid;              /* 0: not running now (between a crash and
                               its restart) */
} sluice_fleet_stage_pid;

/* One pipeline as sluice_fleet_snapshot() copies it out. */
typedef struct sluice_fleet_pipeline {
    char name[128];         /* the pipeline's name; for a file refused
                               before a name was read, the file's name */
    char file[1024];        /* its file in the directory */
    sluice_fleet_state state;
    pid_t supervisor_pid;   /* 0 when none runs */
    sluice_fleet_stage_pid stages[SLUICE_FLEET_STAGE_PIDS_MAX];
    size_t stage_count;
    unsigned restarts;      /* stage process restarts by its supervisor
                               since this version started */
    char last_error[1024];  /* "" when none: a refused reload of its file
                               (FILE:LINE: ...), why it failed, or the last
                               error its supervisor reported */
    int refused_reload;     /* 1 when the file on disk was refused and an
                               older version runs */
    int exit_code;          /* how its last supervisor ended (SLUICE_EXIT_*,
                               128+signal); -1 while one runs or none ran */
    unsigned reloads;       /* times a reload (re)started this pipeline */
    int64_t started_at_ms;  /* wall clock (ms since the epoch) its current
                               version started; 0 if it never did */
} sluice_fleet_pipeline;

/* The whole fleet. */
typedef struct sluice_fleet_snapshot {
    char dir[1024];         /* the directory; "" when no fleet runs in this
                               process */
    unsigned reloads;       /* reloads done since start */
    int64_t last_reload_at_ms; /* wall clock of the last one (0: none) */
    unsigned last_reload_refused; /* files the last reload refused */
    sluice_fleet_pipeline *pipelines; /* `count` entries, ordered by file */
    size_t count;
} sluice_fleet_snapshot;

/* Copy the fleet's state into *out (thread-safe: any thread of the
 * `sluice run --dir` process may call it while the fleet runs; stage pids
 * are read from the pipelines' pid files at the time of the call).
 * Returns 0, or -1 when out of memory (*out then empty). The caller frees
 * out->pipelines with sluice_fleet_snapshot_free(). Without a fleet in
 * this process, returns 0 with an empty snapshot. */
int sluice_fleet_snapshot_get(sluice_fleet_snapshot *out);

/* Free what sluice_fleet_snapshot_get() allocated and empty *snap. */
void sluice_fleet_snapshot_free(sluice_fleet_snapshot *snap);

/* What the fleet tells its watcher (sluice_fleet_options.notify, e.g.
 * systemd's sd_notify); sluice_fleet_snapshot_get() reads the state. */
typedef enum sluice_fleet_event {
    SLUICE_FLEET_READY,     /* every pipeline of the directory started or
                               was refused: at start, and after a reload */
    SLUICE_FLEET_RELOADING, /* a reload (SIGHUP) begins */
    SLUICE_FLEET_CHANGED,   /* the fleet woke and may have changed (a
                               pipeline stopped, failed, restarted) */
    SLUICE_FLEET_STOPPING   /* the first stop signal: draining */
} sluice_fleet_event;

/* Options of a fleet run. */
typedef struct sluice_fleet_options {
    const char *dir;        /* the directory of *.cfg files */
    const char *pid_file;   /* locked and holding our pid while we run;
                               `sluice reload` signals that pid */
    sluice_run_options run; /* passed to every pipeline (once, except) */
    void (*notify)(sluice_fleet_event event, void *cls); /* NULL: none;
                               called in the fleet's thread */
    void *notify_cls;
} sluice_fleet_options;

/* The pid file `sluice run --dir` and `sluice reload` use when given none:
 * $SLUICE_STATE_DIR/sluice.pid, or sluice.pid in the configured state
 * directory (SLUICE_STATEDIR) when that variable is unset or empty.
 * Writes it into buf; returns 0, or -1 if it does not fit. */
int sluice_fleet_default_pid_file(char *buf, size_t len);

/* Run the fleet of opts->dir until SIGTERM/SIGINT (drain every pipeline
 * and stop; a second signal kills everything), reloading on SIGHUP. The
 * fleet takes SIGCHLD, SIGTERM, SIGINT and SIGHUP synchronously in the
 * calling thread (blocked, then sigtimedwait): another thread of the
 * process (an admin endpoint) must have them blocked too, else the kernel
 * may deliver one to it and its default action ends the process; block
 * them (pthread_sigmask) before creating such a thread. All
 * plugins the files name are loaded into `reg` as the files are read (at
 * start and at each reload, in this thread; libltdl is not thread-safe,
 * so no other thread may load plugins meanwhile). Returns the exit status
 * of `sluice run`: SLUICE_EXIT_BUSY (75) if the pid file is locked by
 * another sluice run, 1 if it cannot be written or the directory cannot be
 * read at start, else 0 when every pipeline ended well and the first
 * pipeline's non-zero code otherwise (128+signal after a forced stop). */
int sluice_fleet_run(const sluice_fleet_options *opts, sluice_registry *reg);
#endif
