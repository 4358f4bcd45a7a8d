/* test_annexcloud_spool.c: Check tests of the webhook spool's group-commit
 * writer (ac_spool.c) on real SQLite files: the connection runs
 * synchronous=FULL, every item is answered STORED only after a sync of the
 * database (fsync/fdatasync are counted by interposing them in this test
 * program: SQLite calls them from its shared library), items queued while
 * a group is written share one commit, a held write lock costs each
 * request its own wait (BUSY) and nothing more, duplicates are answered
 * as such, and a full disk (a small tmpfs, when the test may mount one)
 * is answered FULL while the writer keeps working. */
#define _GNU_SOURCE
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <check.h>
#include <sqlite3.h>

#include "../../plugins/annexcloud-source/ac_spool.h"
#include "support/unit_support.h"

/* ------------------------------------------------------------------ */
/* Counting the syncs SQLite makes.                                   */
/* ------------------------------------------------------------------ */
static atomic_ulong syncs;

int fdatasync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}

int fsync(int fd)
{
    static int (*real)(int);

    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    atomic_fetch_add(&syncs, 1);
    return real(fd);
}

/* ------------------------------------------------------------------ */
/* Fixture and helpers.                                               */
/* ------------------------------------------------------------------ */
static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-spool-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    unit_remove_tree(dir);
}

/* One awaited answer. */
typedef struct answer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    ac_spool_outcome outcome;
    unsigned long syncs_at_submit, syncs_at_answer;
    struct timespec submitted, answered;
} answer;

static void answer_init(answer *a)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
}

static void on_done(void *arg, ac_spool_outcome outcome, const char *detail)
{
    answer *a = arg;

    (void)detail;
    pthread_mutex_lock(&a->lock);
    a->syncs_at_answer = atomic_load(&syncs);
    clock_gettime(CLOCK_MONOTONIC, &a->answered);
    a->outcome = outcome;
    a->done++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

/* Submit `body` as event `id`; the answer lands in *a. */
static void submit(ac_spool_writer *writer, const char *id, const char *body, long wait_ms, answer *a)
{
    a->syncs_at_submit = atomic_load(&syncs);
    clock_gettime(CLOCK_MONOTONIC, &a->submitted);
    ck_assert_int_eq(ac_spool_writer_submit(writer, id, strdup(body), strlen(body), wait_ms, on_done, a), 0);
}

/* Wait (60 s at most: a bound on failure only) for *a's answer. */
static ac_spool_outcome await(answer *a)
{
    struct timespec limit;
    int done;

    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 60;
    pthread_mutex_lock(&a->lock);
    while (!a->done && pthread_cond_timedwait(&a->cond, &a->lock, &limit) == 0)
        ;
    done = a->done;
    pthread_mutex_unlock(&a->lock);
    ck_assert_msg(done == 1, "answered %d times", done);
    return a->outcome;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static ac_spool_writer *start_writer(const char *state_dir)
{
    char err[512] = "";
    ac_spool_writer *writer = ac_spool_writer_start(state_dir, "src", err, sizeof(err));

    ck_assert_msg(writer != NULL, "%s", err);
    return writer;
}

/* Number of spooled entries of stage "src", read back on a new spool. */
static int spooled(const char *state_dir)
{
    char err[512] = "";
    ac_spool *spool = ac_spool_open(state_dir, "src", err, sizeof(err));
    json_t *entries = json_array();
    int count;

    ck_assert_msg(spool != NULL, "%s", err);
    count = ac_spool_take(spool, 0, 100000, entries);
    json_decref(entries);
    ac_spool_close(&spool);
    return count;
}

/* Another connection holding the write lock of state.db. */
static sqlite3 *hold_write_lock(const char *state_dir)
{
    char path[512];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/state.db", state_dir);
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* ------------------------------------------------------------------ */
/* Tests.                                                             */
/* ------------------------------------------------------------------ */

/* The review's finding: synchronous=NORMAL, no sync between the INSERT
 * and the 200. Now FULL, and every STORED answer comes after a sync. */
START_TEST(test_stored_only_after_a_sync)
{
    ac_spool_writer *writer = start_writer(dir);
    ac_spool_writer_stats stats;
    answer answers[5];
    char id[16];

    for (int i = 0; i < 5; i++) {
        answer_init(&answers[i]);
        snprintf(id, sizeof(id), "e%d", i);
        submit(writer, id, "{\"eventId\":\"x\"}", 30000, &answers[i]);
        ck_assert_int_eq(await(&answers[i]), AC_SPOOL_STORED);
        ck_assert_msg(answers[i].syncs_at_answer > answers[i].syncs_at_submit,
                      "item %d answered STORED without a sync (%lu syncs before, %lu at the answer)", i,
                      answers[i].syncs_at_submit, answers[i].syncs_at_answer);
    }
    ac_spool_writer_stats_get(writer, &stats);
    ck_assert_int_eq(stats.synchronous, 2);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(dir), 5);
}
END_TEST

/* Items queued while the database is locked go into one transaction, one
 * sync, once the lock is released. */
START_TEST(test_queued_items_share_one_commit)
{
    ac_spool_writer *writer = start_writer(dir);
    ac_spool_writer_stats stats;
    sqlite3 *holder = hold_write_lock(dir);
    answer answers[40];
    char id[16];

    for (int i = 0; i < 40; i++) {
        answer_init(&answers[i]);
        snprintf(id, sizeof(id), "g%d", i);
        submit(writer, id, "{\"eventId\":\"g\"}", 60000, &answers[i]);
    }
    ck_assert_int_eq(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(holder);
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(await(&answers[i]), AC_SPOOL_STORED);
    ac_spool_writer_stats_get(writer, &stats);
    ck_assert_int_eq(stats.stored, 40);
    ck_assert_msg(stats.groups == 1 && stats.largest == 40, "40 items in %llu commits (largest %llu)", stats.groups,
                  stats.largest);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(dir), 40);
}
END_TEST

/* Concurrent submitters (like connections) all get their answer, and the
 * commits are fewer than the items. */
typedef struct submitter {
    ac_spool_writer *writer;
    int index;
    int stored;
} submitter;

static void *submit_many(void *arg)
{
    submitter *s = arg;
    char id[32];

    for (int i = 0; i < 50; i++) {
        answer a;
        answer_init(&a);
        snprintf(id, sizeof(id), "c%d-%d", s->index, i);
        submit(s->writer, id, "{\"eventId\":\"c\"}", 30000, &a);
        if (await(&a) == AC_SPOOL_STORED)
            s->stored++;
    }
    return NULL;
}

START_TEST(test_concurrent_submitters_grouped)
{
    ac_spool_writer *writer = start_writer(dir);
    ac_spool_writer_stats stats;
    submitter subs[8];
    pthread_t threads[8];

    for (int i = 0; i < 8; i++) {
        subs[i] = (submitter){writer, i, 0};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, submit_many, &subs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(subs[i].stored, 50);
    }
    ac_spool_writer_stats_get(writer, &stats);
    ck_assert_int_eq(stats.stored, 400);
    ck_assert_msg(stats.groups < stats.stored, "%llu commits for %llu items", stats.groups, stats.stored);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(dir), 400);
}
END_TEST

START_TEST(test_duplicates_answered_not_stored)
{
    ac_spool_writer *writer = start_writer(dir);
    sqlite3 *holder;
    answer a, b, c;

    answer_init(&a);
    submit(writer, "dup-1", "{\"n\":1}", 30000, &a);
    ck_assert_int_eq(await(&a), AC_SPOOL_STORED);
    answer_init(&b);
    submit(writer, "dup-1", "{\"n\":2}", 30000, &b);
    ck_assert_int_eq(await(&b), AC_SPOOL_DUPLICATE);
    /* Twice in the same group. */
    holder = hold_write_lock(dir);
    answer_init(&a);
    answer_init(&c);
    submit(writer, "dup-2", "{\"n\":3}", 60000, &a);
    submit(writer, "dup-2", "{\"n\":4}", 60000, &c);
    sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(holder);
    ck_assert_int_eq(await(&a), AC_SPOOL_STORED);
    ck_assert_int_eq(await(&c), AC_SPOOL_DUPLICATE);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(dir), 2);
}
END_TEST

/* The review's repro: with the write lock held, request N waited N x 10 s.
 * Now each is answered BUSY after its own wait, is not written later, and
 * the writer works again once the lock is gone. */
START_TEST(test_locked_database_costs_each_its_own_wait)
{
    ac_spool_writer *writer = start_writer(dir);
    sqlite3 *holder = hold_write_lock(dir);
    answer answers[4], after;
    char id[16];

    for (int i = 0; i < 4; i++) {
        answer_init(&answers[i]);
        snprintf(id, sizeof(id), "l%d", i);
        submit(writer, id, "{\"eventId\":\"l\"}", 300, &answers[i]);
    }
    for (int i = 0; i < 4; i++) {
        double waited;
        ck_assert_int_eq(await(&answers[i]), AC_SPOOL_BUSY);
        waited = seconds_between(&answers[i].submitted, &answers[i].answered);
        /* At least its wait; far less than the 10 s busy timeout a request
         * used to wait per queued predecessor (the bound is loose for a
         * loaded machine: it only has to tell seconds from tens of them). */
        ck_assert_msg(waited >= 0.29 && waited < 8.0, "item %d answered after %.2f s", i, waited);
    }
    sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(holder);
    answer_init(&after);
    submit(writer, "l-after", "{\"eventId\":\"l\"}", 30000, &after);
    ck_assert_int_eq(await(&after), AC_SPOOL_STORED);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(dir), 1);
}
END_TEST

/* A full disk: a 1 MiB tmpfs in a mount namespace of this process (needs
 * the right to mount; skipped otherwise), filled up, then emptied. */
START_TEST(test_full_disk_answered_full_then_recovers)
{
    char state[300], filler[320], *big;
    ac_spool_writer *writer;
    answer a;
    int fd;

    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
        fprintf(stderr, "test_full_disk: cannot mount a tmpfs here (%s): skipped\n", strerror(errno));
        return;
    }
    snprintf(state, sizeof(state), "%s", dir);
    writer = start_writer(state);
    answer_init(&a);
    submit(writer, "before", "{\"eventId\":\"before\"}", 30000, &a);
    ck_assert_int_eq(await(&a), AC_SPOOL_STORED);
    snprintf(filler, sizeof(filler), "%s/filler", state);
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    big = calloc(1, 4096);
    while (write(fd, big, 4096) > 0)
        ;
    close(fd);
    /* A payload bigger than any room SQLite may have kept. */
    free(big);
    big = malloc(300000);
    memset(big, 'x', 299999);
    big[299999] = '\0';
    answer_init(&a);
    submit(writer, "full", big, 30000, &a);
    ck_assert_int_eq(await(&a), AC_SPOOL_FULL);
    unlink(filler);
    answer_init(&a);
    submit(writer, "after", big, 30000, &a);
    ck_assert_int_eq(await(&a), AC_SPOOL_STORED);
    free(big);
    ac_spool_writer_stop(&writer);
    ck_assert_int_eq(spooled(state), 2);
    umount(dir);
}
END_TEST

/* Stopping answers what is still queued (the listener must resume every
 * connection before its daemon stops). */
START_TEST(test_stop_answers_everything)
{
    ac_spool_writer *writer = start_writer(dir);
    sqlite3 *holder = hold_write_lock(dir);
    answer answers[3];
    char id[16];

    for (int i = 0; i < 3; i++) {
        answer_init(&answers[i]);
        snprintf(id, sizeof(id), "s%d", i);
        submit(writer, id, "{}", 60000, &answers[i]);
    }
    ac_spool_writer_stop(&writer);
    for (int i = 0; i < 3; i++)
        ck_assert_int_ne(await(&answers[i]), AC_SPOOL_STORED);
    sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(holder);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_spool");
    TCase *tc = tcase_create("writer");
    SRunner *runner;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_stored_only_after_a_sync);
    tcase_add_test(tc, test_queued_items_share_one_commit);
    tcase_add_test(tc, test_concurrent_submitters_grouped);
    tcase_add_test(tc, test_duplicates_answered_not_stored);
    tcase_add_test(tc, test_locked_database_costs_each_its_own_wait);
    tcase_add_test(tc, test_full_disk_answered_full_then_recovers);
    tcase_add_test(tc, test_stop_answers_everything);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
