/* test_fleet.c: unit test of the fleet's snapshot API (core/lib/fleet.h):
 * a real `sluice run --dir` fleet (sluice_fleet_run, the built file-source
 * and file-sink plugins of SLUICE_PLUGIN_PATH) in a child process, and a
 * thread of that process reading sluice_fleet_snapshot_get() as the admin
 * endpoint will, while the fleet publishes: a running pipeline with its
 * supervisor and stage pids, a refused file with its FILE:LINE error. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "registry.h"

static char tmpdir[64];
static char verdict_path[128];

/* Write `text` as the verdict the parent reads. */
static void write_verdict(const char *text)
{
    FILE *f = fopen(verdict_path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* "" if `snap` shows what the test expects, else what is missing, in buf. */
static const char *judge(const sluice_fleet_snapshot *snap, char *buf, size_t len)
{
    const sluice_fleet_pipeline *good = NULL, *bad = NULL;

    for (size_t i = 0; i < snap->count; i++) {
        if (strstr(snap->pipelines[i].file, "good.cfg"))
            good = &snap->pipelines[i];
        if (strstr(snap->pipelines[i].file, "bad.cfg"))
            bad = &snap->pipelines[i];
    }
    if (snap->count != 2 || !good || !bad) {
        snprintf(buf, len, "%zu pipelines", snap->count);
        return buf;
    }
    if (good->state != SLUICE_FLEET_RUNNING || good->supervisor_pid <= 0 ||
        strcmp(good->name, "snap") != 0 || good->stage_count != 2) {
        snprintf(buf, len, "good: %s, %s, supervisor %ld, %zu stages", good->name,
                 sluice_fleet_state_name(good->state), (long)good->supervisor_pid,
                 good->stage_count);
        return buf;
    }
    for (size_t k = 0; k < good->stage_count; k++) {
        if (good->stages[k].pid <= 0) {
            snprintf(buf, len, "stage %s has no pid yet", good->stages[k].label);
            return buf;
        }
    }
    if (bad->state != SLUICE_FLEET_REFUSED || !strstr(bad->last_error, "bad.cfg:3: ")) {
        snprintf(buf, len, "bad: %s, '%s'", sluice_fleet_state_name(bad->state),
                 bad->last_error);
        return buf;
    }
    return "";
}

/* The reader thread: snapshots every 10 ms until the fleet looks as
 * expected (or 120 s passed), writes the verdict, stops the fleet. */
static void *reader(void *unused)
{
    char why[2048] = "no snapshot";
    time_t deadline = time(NULL) + 120;

    (void)unused;
    while (time(NULL) < deadline) {
        sluice_fleet_snapshot snap;
        const char *miss;

        if (sluice_fleet_snapshot_get(&snap) != 0) {
            snprintf(why, sizeof(why), "snapshot failed");
            break;
        }
        miss = judge(&snap, why, sizeof(why));
        sluice_fleet_snapshot_free(&snap);
        if (!*miss) {
            snprintf(why, sizeof(why), "ok");
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10000000L}, NULL);
    }
    write_verdict(why);
    kill(getpid(), SIGTERM);
    return NULL;
}

/* Write the pipeline files into tmpdir/d. */
static void write_files(void)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/d", tmpdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/d/good.cfg", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "pipeline = {\n  name = \"snap\";\n  state_dir = \"%s/state\";\n"
               "  stages = (\n    { name = \"in\"; plugin = \"file-source\"; path = \"%s/in\";"
               " follow = true; },\n    { name = \"out\"; plugin = \"file-sink\";"
               " path = \"%s/out\"; }\n  );\n};\n", tmpdir, tmpdir, tmpdir);
    fclose(f);
    snprintf(path, sizeof(path), "%s/in", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/d/bad.cfg", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "pipeline = {\n  name = \"bad\";\n  batchsize = 3;\n};\n");
    fclose(f);
}

START_TEST(snapshot_from_another_thread)
{
    char dir[128], pid_file[128], verdict[2048] = "";
    int status = 0;
    FILE *f;
    pid_t pid;

    write_files();
    snprintf(dir, sizeof(dir), "%s/d", tmpdir);
    snprintf(pid_file, sizeof(pid_file), "%s/sluice.pid", tmpdir);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sluice_fleet_options opts = {.dir = dir, .pid_file = pid_file};
        sluice_registry *reg = sluice_registry_new();
        sigset_t set;
        pthread_t thread;
        int code;

        /* as the admin endpoint must: the fleet's signals blocked before
         * the thread exists, so they reach the fleet's sigtimedwait */
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        setpgid(0, 0);
        if (!reg || pthread_create(&thread, NULL, reader, NULL) != 0)
            _exit(90);
        code = sluice_fleet_run(&opts, reg);
        pthread_join(thread, NULL);
        _exit(code);
    }
    for (int i = 0; i < 200 * 20 && waitpid(pid, &status, WNOHANG) != pid; i++)
        nanosleep(&(struct timespec){.tv_nsec = 50000000L}, NULL);
    if (kill(pid, 0) == 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the fleet did not stop");
    }
    f = fopen(verdict_path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(verdict, sizeof(verdict), f));
    fclose(f);
    ck_assert_msg(strcmp(verdict, "ok") == 0, "snapshot: %s", verdict);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fleet exit status %d",
                  status);
}
END_TEST

/* A fresh temp dir per test. */
static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-fleet-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(verdict_path, sizeof(verdict_path), "%s/verdict", tmpdir);
}

/* Remove the temp dir. */
static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("snapshot");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, snapshot_from_another_thread);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
