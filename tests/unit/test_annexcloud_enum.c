/* test_annexcloud_enum.c: Check tests of the annexcloud-source member
 * enumerator (ac_enumerate in ac_api.c, and ac_enumerate_parallel in
 * ac_mode_api_enum.c, which must give the same ids in the same order and
 * the same errors), driven by a search function over
 * an in-memory member list that behaves like POST /users/search: members
 * whose opt-in is in [start, end), ordered by opt-in then id, at most 50. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include <jansson.h>

#include "../../plugins/annexcloud-source/ac_api.h"

typedef struct fake_member {
    char id[32];
    time_t opt_in;
} fake_member;

typedef struct fake_program {
    fake_member *members; /* sorted by opt_in, then id */
    size_t count;
    int wrap_data;        /* answer users as {"Data":{...}} */
    int fail_after;       /* > 0: the n-th search fails with AC_RETRY */
    size_t calls;
} fake_program;

static int member_order(const void *a, const void *b)
{
    const fake_member *x = a, *y = b;

    if (x->opt_in != y->opt_in)
        return x->opt_in < y->opt_in ? -1 : 1;
    return strcmp(x->id, y->id);
}

static ac_result fake_search(void *user, time_t start, time_t end, json_t **users, char *err,
                             size_t errlen)
{
    fake_program *program = user;
    json_t *found = json_array();

    program->calls++;
    if (program->fail_after > 0 && (int)program->calls >= program->fail_after) {
        json_decref(found);
        snprintf(err, errlen, "search failed (test)");
        return AC_RETRY;
    }
    for (size_t i = 0; i < program->count && json_array_size(found) < AC_SEARCH_LIMIT; i++) {
        json_t *one;
        if (program->members[i].opt_in < start || program->members[i].opt_in >= end)
            continue;
        one = json_pack("{s:s, s:s}", "id", program->members[i].id, "email", "x@example.com");
        if (program->wrap_data)
            one = json_pack("{s:o}", "Data", one);
        json_array_append_new(found, one);
    }
    *users = found;
    return AC_OK;
}

static const time_t BASE = 1767225600; /* 2026-01-01 00:00:00 UTC */

/* `count` members, member i opted in at BASE + offsets(i). */
static fake_program make_program(size_t count, time_t (*offset_of)(size_t))
{
    fake_program program = {0};

    program.members = calloc(count ? count : 1, sizeof(fake_member));
    ck_assert_ptr_nonnull(program.members);
    program.count = count;
    for (size_t i = 0; i < count; i++) {
        snprintf(program.members[i].id, sizeof(program.members[i].id), "LID-%06zu", (count * 7919 + i * 104729) % 1000003);
        program.members[i].opt_in = BASE + offset_of(i);
    }
    qsort(program.members, count, sizeof(fake_member), member_order);
    return program;
}

/* The enumeration returned every member once, in opt-in order. */
static void assert_all_in_order(const fake_program *program, const json_t *ids)
{
    ck_assert_uint_eq(json_array_size(ids), program->count);
    for (size_t i = 0; i < program->count; i++) {
        const char *got = json_string_value(json_array_get(ids, i));
        ck_assert_msg(got && strcmp(got, program->members[i].id) == 0, "position %zu: got %s, want %s", i,
                      got ? got : "(none)", program->members[i].id);
    }
}

static time_t spread_one_per_minute(size_t i) { return (time_t)i * 60; }
static time_t three_per_second(size_t i) { return (time_t)(i / 3) * 7 + 1; }
static time_t all_in_one_second(size_t i) { (void)i; return 3600; }
static time_t forty_per_second(size_t i) { return (time_t)(i / 40) * 2; }

/* Enumerate [BASE, BASE + span). */
static ac_result run(fake_program *program, time_t span, json_t *ids, size_t *searches, char *err,
                     size_t errlen)
{
    return ac_enumerate(fake_search, program, BASE, BASE + span, ids, searches, err, errlen);
}

START_TEST(test_full_window_of_50_is_split)
{
    fake_program program = make_program(50, spread_one_per_minute);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 50 * 60, ids, &searches, err, sizeof(err)), AC_OK);
    assert_all_in_order(&program, ids);
    ck_assert_uint_gt(searches, 1);
    ck_assert_uint_eq(searches, program.calls);
    json_decref(ids);
    free(program.members);
}
END_TEST

START_TEST(test_window_of_49_is_one_search)
{
    fake_program program = make_program(49, spread_one_per_minute);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 49 * 60, ids, &searches, err, sizeof(err)), AC_OK);
    assert_all_in_order(&program, ids);
    ck_assert_uint_eq(searches, 1);
    json_decref(ids);
    free(program.members);
}
END_TEST

START_TEST(test_empty_window)
{
    fake_program program = make_program(0, spread_one_per_minute);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 86400, ids, &searches, err, sizeof(err)), AC_OK);
    ck_assert_uint_eq(json_array_size(ids), 0);
    ck_assert_uint_eq(searches, 1);
    /* An empty range asks nothing. */
    ck_assert_int_eq(run(&program, 0, ids, &searches, err, sizeof(err)), AC_OK);
    ck_assert_uint_eq(searches, 0);
    json_decref(ids);
    free(program.members);
}
END_TEST

START_TEST(test_fifty_in_one_second_is_a_clear_error)
{
    fake_program program = make_program(50, all_in_one_second);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 86400, ids, &searches, err, sizeof(err)), AC_REJECTED);
    ck_assert_msg(strstr(err, "2026-01-01 01:00:00") != NULL, "error does not name the second: %s", err);
    ck_assert_msg(strstr(err, "50") != NULL, "error does not say why: %s", err);
    json_decref(ids);
    free(program.members);
}
END_TEST

/* Thousands of members, many sharing a second (but < 50 per second), in
 * Data-wrapped answers: every id once, in opt-in order. */
START_TEST(test_many_members_none_missed)
{
    fake_program program = make_program(3000, three_per_second);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    program.wrap_data = 1;
    ck_assert_int_eq(run(&program, 3 * 365 * 86400, ids, &searches, err, sizeof(err)), AC_OK);
    assert_all_in_order(&program, ids);
    json_decref(ids);
    free(program.members);
}
END_TEST

/* Dense seconds (40 per second, two seconds apart): splitting must reach
 * one-second windows and still find all. */
START_TEST(test_dense_seconds)
{
    fake_program program = make_program(400, forty_per_second);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 86400, ids, &searches, err, sizeof(err)), AC_OK);
    assert_all_in_order(&program, ids);
    json_decref(ids);
    free(program.members);
}
END_TEST

/* Members exactly at the window's end are not in it; at its start they are. */
START_TEST(test_window_bounds)
{
    fake_program program = make_program(10, spread_one_per_minute); /* BASE+0 .. BASE+540 */
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    ck_assert_int_eq(run(&program, 540, ids, &searches, err, sizeof(err)), AC_OK);
    ck_assert_uint_eq(json_array_size(ids), 9);
    ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), program.members[0].id);
    json_decref(ids);
    free(program.members);
}
END_TEST

START_TEST(test_search_failure_is_passed_on)
{
    fake_program program = make_program(200, spread_one_per_minute);
    json_t *ids = json_array();
    size_t searches = 0;
    char err[256] = "";

    program.fail_after = 3;
    ck_assert_int_eq(run(&program, 200 * 60, ids, &searches, err, sizeof(err)), AC_RETRY);
    ck_assert_str_eq(err, "search failed (test)");
    json_decref(ids);
    free(program.members);
}
END_TEST

/* fake_search for several threads at once (one search at a time). */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static ac_result fake_search_locked(void *user, time_t start, time_t end, json_t **users,
                                    char *err, size_t errlen)
{
    ac_result result;

    pthread_mutex_lock(&fake_lock);
    result = fake_search(user, start, end, users, err, errlen);
    pthread_mutex_unlock(&fake_lock);
    return result;
}

/* Bursts and gaps: 7 members in one second every 97 s, then spread. */
static time_t spread_offset(size_t i)
{
    return (time_t)(i / 7 * 97 + (i % 7 == 0 ? 0 : (time_t)(i % 5) * 13));
}

/* 60 members in each second: cannot be listed. */
static time_t dense60_offset(size_t i)
{
    return (time_t)(i / 60);
}

START_TEST(test_parallel_equals_sequential)
{
    fake_program program = make_program(3000, spread_offset);
    json_t *one = json_array(), *many = json_array();
    size_t searches_one = 0, searches_many = 0;
    char err[512] = "", err_many[512] = "";
    ac_result a, b;

    a = ac_enumerate(fake_search, &program, BASE - 100, BASE + 400000, one, &searches_one, err,
                     sizeof(err));
    b = ac_enumerate_parallel(fake_search_locked, &program, BASE - 100, BASE + 400000, 16, many,
                              &searches_many, err_many, sizeof(err_many));
    ck_assert_int_eq(a, AC_OK);
    ck_assert_int_eq(b, AC_OK);
    ck_assert_int_eq(json_array_size(one), 3000);
    ck_assert_msg(json_equal(one, many), "parallel ids differ from sequential ones");
    ck_assert_uint_eq(searches_one, searches_many);
    json_decref(one);
    json_decref(many);
    free(program.members);

    /* the same clear error for 50 in one second */
    program = make_program(200, dense60_offset);
    many = json_array();
    b = ac_enumerate_parallel(fake_search_locked, &program, BASE, BASE + 100, 8, many,
                              &searches_many, err_many, sizeof(err_many));
    ck_assert_int_eq(b, AC_REJECTED);
    ck_assert_ptr_nonnull(strstr(err_many, "50 or more members opted in within the second"));
    json_decref(many);
    free(program.members);

    /* a failing search is passed on */
    program = make_program(3000, spread_offset);
    program.fail_after = 5;
    many = json_array();
    b = ac_enumerate_parallel(fake_search_locked, &program, BASE - 100, BASE + 400000, 8, many,
                              &searches_many, err_many, sizeof(err_many));
    ck_assert_int_eq(b, AC_RETRY);
    ck_assert_str_eq(err_many, "search failed (test)");
    json_decref(many);
    free(program.members);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("annexcloud_enum");
    TCase *tc = tcase_create("enumerate");
    SRunner *runner;
    int failed;

    tcase_add_test(tc, test_full_window_of_50_is_split);
    tcase_add_test(tc, test_window_of_49_is_one_search);
    tcase_add_test(tc, test_empty_window);
    tcase_add_test(tc, test_fifty_in_one_second_is_a_clear_error);
    tcase_add_test(tc, test_many_members_none_missed);
    tcase_add_test(tc, test_dense_seconds);
    tcase_add_test(tc, test_window_bounds);
    tcase_add_test(tc, test_search_failure_is_passed_on);
    tcase_add_test(tc, test_parallel_equals_sequential);
    suite_add_tcase(suite, tc);
    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
