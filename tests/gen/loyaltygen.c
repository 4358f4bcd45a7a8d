/* loyaltygen.c: deterministic loyalty-program simulator writing Annex-side inputs and the ground truth (docs/testing.md). */
#include "truthlib.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ------------------------------------------------------------------ PRNG (splitmix64) */

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform integer in [lo, hi]. */
static int64_t rng_range(int64_t lo, int64_t hi) { return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1)); }
static double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static bool rng_chance(double p) { return rng_unit() < p; }

/* ------------------------------------------------------------------ static tables */

typedef struct name_pair {
    const char *display, *ascii;
} name_pair_t;
static const name_pair_t first_names[] = {
    {"José", "jose"}, {"Zoë", "zoe"}, {"Łukasz", "lukasz"}, {"Søren", "soren"}, {"Mário", "mario"},
    {"Alice", "alice"}, {"Olivia", "olivia"}, {"Liam", "liam"}, {"Noah", "noah"}, {"Emma", "emma"},
    {"Amélie", "amelie"}, {"François", "francois"}, {"Björn", "bjorn"}, {"Chloé", "chloe"},
    {"Siobhán", "siobhan"}, {"Jürgen", "jurgen"}, {"Małgorzata", "malgorzata"}, {"Héloïse", "heloise"},
    {"Ana", "ana"}, {"Mohammed", "mohammed"}, {"Wei", "wei"}, {"明", "ming"}, {"Aiko", "aiko"},
    {"Oliver", "oliver"}, {"Sofia", "sofia"}, {"Mateo", "mateo"}, {"Ingrid", "ingrid"},
    {"Dmitri", "dmitri"}, {"Thảo", "thao"}, {"Priya", "priya"}, {"Kwame", "kwame"}, {"Fatima", "fatima"},
};
static const name_pair_t last_names[] = {
    {"Smith", "smith"}, {"García", "garcia"}, {"Nguyễn", "nguyen"}, {"李", "li"}, {"Müller", "muller"},
    {"Kowalski", "kowalski"}, {"Jørgensen", "jorgensen"}, {"O'Brien", "obrien"}, {"Dubois", "dubois"},
    {"Rossi", "rossi"}, {"Silva", "silva"}, {"Öztürk", "ozturk"}, {"Wiśniewski", "wisniewski"},
    {"Johnson", "johnson"}, {"Brown", "brown"}, {"Tanaka", "tanaka"}, {"王", "wang"},
    {"Papadopoulos", "papadopoulos"}, {"Núñez", "nunez"}, {"Ó Súilleabháin", "osuilleabhain"},
    {"van der Berg", "vanderberg"}, {"Hernández", "hernandez"}, {"Kim", "kim"}, {"Patel", "patel"},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
static const char *const domains[] = {"example.com", "example.org", "example.net"};

static const char *const segment_ids[] = {"555", "556", "557", "558"};
static const char *const segment_names[] = {"vip", "newsletter", "birthday_club", "high_spender"};
enum { SEG_VIP, SEG_NEWSLETTER, SEG_BIRTHDAY, SEG_HIGH_SPENDER, NSEG };
static const char *const reward_ids[] = {"121", "122", "123", "124", "125"};
static const char *const reward_names[] = {"$5 Reward", "$10 Reward", "$15 Reward", "$20 Reward", "$50 Reward"};
static const int64_t reward_points[] = {500, 1000, 1500, 2000, 5000};
#define NREWARDS 5
static const char *rewards_joined[NREWARDS + 1]; /* prefix k of the reward list joined with " | " */

enum chg_type { CH_USER_CREATE, CH_USER_UPDATE, CH_POINTS_CREDIT, CH_POINTS_DEBIT, CH_POINTS_EXPIRE, CH_POINTS_HOLD,
                CH_TIER_UPGRADE, CH_TIER_DOWNGRADE, CH_OPT_OUT, CH_OPT_IN, NCH };
static const char *const chg_names[NCH] = {"USER_CREATE", "USER_UPDATE", "POINTS_CREDIT", "POINTS_DEBIT", "POINTS_EXPIRE",
                                           "POINTS_HOLD", "TIER_UPGRADE", "TIER_DOWNGRADE", "OPT_OUT", "OPT_IN"};
enum bad_kind { BAD_MISSING_EMAIL, BAD_DATE, BAD_NEG_POINTS, BAD_OVERSIZE, BAD_DUPLICATE, NBAD };
static const char *const bad_names[NBAD] = {"missing_email", "malformed_date", "negative_points", "oversize_first_name",
                                            "duplicate"};

/* ------------------------------------------------------------------ truth engines on their own threads */

/* Each truth engine runs on its own thread and is fed the generator's records in batches, in the
 * order the generator produces them, so its output is the same as when fed directly. Records are
 * copied into the batch; their strings live in the arena or in static tables, which the
 * generator never frees or changes before the engines are joined. */
#define FEED_BATCH 4096
#define FEED_BATCHES 8

typedef struct feed_batch {
    size_t n;
    canon_t rec[FEED_BATCH];
} feed_batch_t;

typedef struct feeder {
    truth_t *truth;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t work_ready, spare_ready;
    feed_batch_t *queue[FEED_BATCHES]; /* filled batches, oldest at queue[head] */
    size_t head, queued;
    feed_batch_t *spare[FEED_BATCHES];
    size_t nspare;
    feed_batch_t *filling; /* the generator's current batch, not in queue or spare */
    bool closed;           /* no more batches will be queued */
    int rc;                /* truth_finish's result, valid after the join */
    char msg[1024];
} feeder_t;

static void *feeder_main(void *arg)
{
    feeder_t *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        while (f->queued == 0 && !f->closed)
            pthread_cond_wait(&f->work_ready, &f->lock);
        if (f->queued == 0) {
            pthread_mutex_unlock(&f->lock);
            break;
        }
        feed_batch_t *b = f->queue[f->head];
        f->head = (f->head + 1) % FEED_BATCHES;
        f->queued--;
        pthread_mutex_unlock(&f->lock);
        for (size_t i = 0; i < b->n; i++)
            truth_feed_member(f->truth, &b->rec[i]);
        b->n = 0;
        pthread_mutex_lock(&f->lock);
        f->spare[f->nspare++] = b;
        pthread_cond_signal(&f->spare_ready);
        pthread_mutex_unlock(&f->lock);
    }
    f->rc = truth_finish(f->truth, f->msg, sizeof(f->msg));
    return NULL;
}

/* Starts a thread feeding engine t. Returns 0, or -1 with msg set (f is then safe to stop). */
static int feeder_start(feeder_t *f, truth_t *t, char *msg, size_t msglen)
{
    memset(f, 0, sizeof(*f));
    f->truth = t;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->work_ready, NULL);
    pthread_cond_init(&f->spare_ready, NULL);
    for (int i = 0; i < FEED_BATCHES; i++) {
        feed_batch_t *b = malloc(sizeof(*b));
        if (!b) {
            snprintf(msg, msglen, "out of memory");
            return -1;
        }
        b->n = 0;
        f->spare[f->nspare++] = b;
    }
    int err = pthread_create(&f->thread, NULL, feeder_main, f);
    if (err != 0) {
        snprintf(msg, msglen, "cannot start a truth thread: %s", strerror(err));
        return -1;
    }
    f->started = true;
    return 0;
}

/* Hands the current batch to the engine's thread. */
static void feeder_queue_filling(feeder_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->queue[(f->head + f->queued) % FEED_BATCHES] = f->filling;
    f->queued++;
    f->filling = NULL;
    pthread_cond_signal(&f->work_ready);
    pthread_mutex_unlock(&f->lock);
}

/* Queues a copy of rec for the engine (waits while every batch is in use). */
static void feeder_push(feeder_t *f, const canon_t *rec)
{
    if (!f->filling) {
        pthread_mutex_lock(&f->lock);
        while (f->nspare == 0)
            pthread_cond_wait(&f->spare_ready, &f->lock);
        f->filling = f->spare[--f->nspare];
        pthread_mutex_unlock(&f->lock);
    }
    f->filling->rec[f->filling->n++] = *rec;
    if (f->filling->n == FEED_BATCH)
        feeder_queue_filling(f);
}

/* Queues the last records, lets the engine finish and joins its thread. Returns truth_finish's
 * result (-1 with msg set on error; also when the thread never started). */
static int feeder_finish(feeder_t *f, char *msg, size_t msglen)
{
    if (!f->started) {
        snprintf(msg, msglen, "truth thread not running");
        return -1;
    }
    if (f->filling && f->filling->n)
        feeder_queue_filling(f);
    pthread_mutex_lock(&f->lock);
    f->closed = true;
    pthread_cond_signal(&f->work_ready);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    f->started = false;
    if (f->rc != 0)
        snprintf(msg, msglen, "%s", f->msg);
    return f->rc;
}

/* Frees the batches; stops the thread first if it is still running (error paths). */
static void feeder_free(feeder_t *f)
{
    char msg[16];
    if (f->started)
        feeder_finish(f, msg, sizeof(msg));
    if (f->filling)
        f->spare[f->nspare++] = f->filling;
    f->filling = NULL;
    for (size_t i = 0; i < f->nspare; i++)
        free(f->spare[i]);
    for (size_t i = 0; i < f->queued; i++)
        free(f->queue[(f->head + i) % FEED_BATCHES]);
    f->nspare = f->queued = 0;
    if (f->truth) {
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->work_ready);
        pthread_cond_destroy(&f->spare_ready);
    }
}

/* --direct-io auto: from this many members on, the outputs are written with O_DIRECT */
#define DIRECT_IO_MEMBERS 100000

/* ------------------------------------------------------------------ model */

typedef struct accrual {
    int32_t day, points;
} accrual_t;

typedef struct gmember {
    canon_t rec;
    accrual_t *acc;
    uint32_t nacc, capacc;
    int64_t next_anniv; /* day of the next tier anniversary */
    int32_t anniv_n;    /* which anniversary next_anniv is */
    uint8_t heavy;
} gmember_t;

typedef struct activity {
    int action_id;    /* 0 = no activity item */
    int64_t credit, debit;
    const char *kind; /* CREDIT / DEBIT */
    const char *display, *status, *reward_id;
} activity_t;

typedef struct change {
    int64_t at;
    uint32_t member, seq;
    uint8_t type;
    activity_t act;
    canon_t rec;
} change_t;

typedef struct gen {
    uint64_t seed;
    long members, days;
    int64_t start_day, end_secs;
    double bad_rate;
    double odd_name_rate; /* --odd-names: names with every character Infobip forbids */
    bool truth_stream, truth_snapshot;
    program_t prog;
    const char *out;
    gmember_t *m;
    size_t nm, capm;
    change_t *day_changes;
    size_t nchg, capchg;
    uint64_t chg_seq, nchanges, by_type[NCH], nstream, nbad, bad_by_kind[NBAD], enrolled;
    tl_out_t *f_members, *f_changes, *f_stream, *f_final;
    bool direct_io;
    truth_t *t_stream, *t_snap;
    feeder_t feed_stream, feed_snap; /* running while t_stream / t_snap exist */
    jw_t w;
    char *oversize_name;
} gen_t;

static int tier_for(const gen_t *g, int64_t rolling)
{
    int t = 0;
    for (int i = 0; i < g->prog.ntiers; i++)
        if (g->prog.tier_points[i] <= rolling)
            t = i;
    return t;
}

/* Points earned in the 365 days up to and including day (older entries are dropped). */
static int64_t rolling_points(gmember_t *m, int64_t day)
{
    int64_t sum = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < m->nacc; i++) {
        if (m->acc[i].day <= day - 365)
            continue;
        m->acc[k++] = m->acc[i];
        sum += m->acc[i].points;
    }
    m->nacc = k;
    return sum;
}

static void add_accrual(gmember_t *m, int64_t day, int64_t points)
{
    if (m->nacc == m->capacc) {
        m->capacc = m->capacc ? m->capacc * 2 : 4;
        accrual_t *n = realloc(m->acc, m->capacc * sizeof(*n));
        if (!n) {
            fputs("loyaltygen: out of memory\n", stderr);
            exit(1);
        }
        m->acc = n;
    }
    m->acc[m->nacc].day = (int32_t)day;
    m->acc[m->nacc].points = (int32_t)points;
    m->nacc++;
}

/* Recomputes next_tier, points_req_for_next_tier and the reward fields of m for day. */
static void refresh_derived(const gen_t *g, gmember_t *m, int64_t day)
{
    canon_t *r = &m->rec;
    int tier = program_tier_index(&g->prog, r->v[CF_CURRENT_TIER].s);
    int64_t rolling = rolling_points(m, day);
    if (tier + 1 < g->prog.ntiers) {
        canon_set_str(r, CF_NEXT_TIER, g->prog.tier_name[tier + 1]);
        int64_t req = g->prog.tier_points[tier + 1] - rolling;
        canon_set_num(r, CF_POINTS_REQ_FOR_NEXT_TIER, req > 0 ? req : 0);
    } else {
        canon_set_null(r, CF_NEXT_TIER);
        canon_set_num(r, CF_POINTS_REQ_FOR_NEXT_TIER, 0);
    }
    int64_t avail = r->v[CF_AVAILABLE_POINTS].n;
    int k = 0;
    while (k < NREWARDS && reward_points[k] <= avail)
        k++;
    canon_set_str(r, CF_AVAILABLE_REWARDS, rewards_joined[k]);
    canon_set_num(r, CF_POINTS_REQ_FOR_NEXT_REWARD, k < NREWARDS ? reward_points[k] - avail : 0);
    if (k)
        canon_set_str(r, CF_HIGHEST_AVAILABLE_REWARD, reward_names[k - 1]);
    else
        canon_set_null(r, CF_HIGHEST_AVAILABLE_REWARD);
    if (avail == 0) {
        canon_set_num(r, CF_NEXT_EXPIRING_POINTS, 0);
        canon_set_null(r, CF_POINTS_EXPIRATION_DATE);
    } else if (r->v[CF_NEXT_EXPIRING_POINTS].n > avail) {
        canon_set_num(r, CF_NEXT_EXPIRING_POINTS, avail);
    }
}

static void schedule_expiry(gmember_t *m, int64_t day)
{
    canon_t *r = &m->rec;
    int64_t avail = r->v[CF_AVAILABLE_POINTS].n;
    if (avail <= 0) {
        canon_set_num(r, CF_NEXT_EXPIRING_POINTS, 0);
        canon_set_null(r, CF_POINTS_EXPIRATION_DATE);
        return;
    }
    canon_set_num(r, CF_NEXT_EXPIRING_POINTS, rng_range(1, avail / 3 + 1));
    canon_set_num(r, CF_POINTS_EXPIRATION_DATE, day + rng_range(1, 120));
}

static void set_anniversary_schedule(gmember_t *m, int64_t today)
{
    int64_t tad = m->rec.v[CF_TIER_ACHIEVE_DATE].n;
    m->anniv_n = 1;
    while (tl_add_years(tad, m->anniv_n) <= today)
        m->anniv_n++;
    m->next_anniv = tl_add_years(tad, m->anniv_n);
}

static const char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats into the arena. */
static const char *fmt_str(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    return tl_strndup(buf, (size_t)n);
}

/* An E.164 number for member `id`, unique across members (up to 1,000,000
 * members for the UK format, 10,000,000 for the others): the low digits are
 * the member id, the digits before them random, so a member who changes
 * phone gets another number that still belongs to nobody else (Infobip
 * refuses a phone number already owned by another person). */
static const char *random_phone(int country, long id)
{
    long low6 = id % 1000000L, low7 = id % 10000000L;

    switch (country) {
    case 0: return fmt_str("+4477%02d%06ld", (int)rng_range(0, 99), low6);
    case 1: return fmt_str("+1%d%02d%07ld", (int)rng_range(2, 9), (int)rng_range(0, 99), low7);
    case 2: return fmt_str("+4915%02d%07ld", (int)rng_range(0, 99), low7);
    case 3: return fmt_str("+336%d%07ld", (int)rng_range(0, 9), low7);
    case 4: return fmt_str("+48%d%d%07ld", (int)rng_range(5, 8), (int)rng_range(0, 9), low7);
    case 5: return fmt_str("+849%d%07ld", (int)rng_range(0, 9), low7);
    case 6: return fmt_str("+861%d%02d%07ld", (int)rng_range(3, 9), (int)rng_range(0, 99), low7);
    default: return fmt_str("+55119%d%07ld", (int)rng_range(0, 9), low7);
    }
}

static const char *random_zip(int country)
{
    switch (country) {
    case 0:
        return fmt_str("%c%c%d %d%c%c", (char)('A' + rng_range(0, 25)), (char)('A' + rng_range(0, 25)), (int)rng_range(1, 99),
                       (int)rng_range(0, 9), (char)('A' + rng_range(0, 25)), (char)('A' + rng_range(0, 25)));
    case 4: return fmt_str("%02d-%03d", (int)rng_range(0, 99), (int)rng_range(0, 999));
    case 5:
    case 6: return fmt_str("%06d", (int)rng_range(100000, 999999));
    case 7: return fmt_str("%05d-%03d", (int)rng_range(0, 99999), (int)rng_range(0, 999));
    default: return fmt_str("%05d", (int)rng_range(1000, 99999));
    }
}

/* Creates member number id enrolled on enrol_day; initial history only when existing (before start). */
static void make_member(gen_t *g, gmember_t *m, long id, int64_t enrol_day, bool existing, int64_t today)
{
    canon_t *r = &m->rec;
    memset(m, 0, sizeof(*m));
    canon_init(r);
    const name_pair_t *fn = &first_names[rng_range(0, COUNT(first_names) - 1)];
    const name_pair_t *ln = &last_names[rng_range(0, COUNT(last_names) - 1)];
    int country = (int)rng_range(0, 7);
    m->heavy = rng_chance(0.06);
    canon_set_str(r, CF_LOYALTY_ID, fmt_str("LID-%09ld", id));
    canon_set_str(r, CF_FIRST_NAME, fn->display);
    canon_set_str(r, CF_LAST_NAME, ln->display);
    /* Off by default: no draw is made, so the default output is unchanged. */
    if (g->odd_name_rate > 0 && rng_chance(g->odd_name_rate)) {
        canon_set_str(r, CF_FIRST_NAME, fmt_str("%s & Co. \"%s\" (A/B\\C) {x=y}; #1:\r\n2", fn->display, fn->display));
        canon_set_str(r, CF_LAST_NAME, fmt_str("  %s\n<Jr.>  ", ln->display));
    }
    canon_set_str(r, CF_EMAIL, fmt_str("%s.%s%ld@%s", fn->ascii, ln->ascii, id, domains[rng_range(0, 2)]));
    canon_set_str(r, CF_ACTIVE_STATUS, rng_chance(0.97) ? "active" : "inactive");
    int64_t bday;
    if (rng_chance(0.01)) {
        bday = tl_days_from_civil((int)(1952 + 4 * rng_range(0, 13)), 2, 29);
    } else {
        int y = (int)rng_range(1950, 2006), mo = (int)rng_range(1, 12);
        bday = tl_days_from_civil(y, mo, (int)rng_range(1, tl_days_in_month(y, mo)));
    }
    canon_set_num(r, CF_BIRTHDAY, bday);
    canon_set_num(r, CF_ANNIVERSARY_DATE, enrol_day);
    canon_set_str(r, CF_PHONE, random_phone(country, id));
    canon_set_str(r, CF_ZIP_CODE, random_zip(country));
    int64_t enrol_secs = enrol_day * 86400 + rng_range(0, 86399);
    bool opted_in = !existing || rng_chance(0.9);
    canon_set_str(r, CF_OPT_IN_STATUS, opted_in ? "yes" : "no");
    canon_set_num(r, CF_OPT_IN_DATE, enrol_secs);
    if (opted_in)
        canon_set_null(r, CF_OPT_OUT_DATE);
    else
        canon_set_num(r, CF_OPT_OUT_DATE, rng_range(enrol_day, today - 1));

    int64_t earned = 0, used = 0, expired = 0, rolling = 0;
    int64_t last_act = -1, first_act = -1, first_purchase = -1, last_purchase = -1;
    if (existing) {
        int k = (int)rng_range(0, 6);
        for (int i = 0; i < k; i++) {
            int64_t d = rng_range(today - 364 > enrol_day ? today - 364 : enrol_day, today - 1);
            int64_t p = rng_range(50, 1500) * (m->heavy ? 4 : 1);
            add_accrual(m, d, p);
            rolling += p;
            if (d > last_act)
                last_act = d;
            if (first_act < 0 || d < first_act)
                first_act = d;
        }
        int64_t years = (today - enrol_day) / 365;
        earned = rolling + (years > 0 ? rng_range(0, years * 2000) : 0);
        used = (earned * rng_range(0, 60) / 100) / 500 * 500;
        expired = earned * rng_range(0, 10) / 100;
        if (earned > 0) {
            /* the first purchase soon after enrolment, never after the first accrual in the window */
            first_purchase = enrol_day + rng_range(0, 30);
            if (first_purchase > today - 1)
                first_purchase = today - 1;
            if (first_act >= 0 && first_act < first_purchase)
                first_purchase = first_act;
            last_purchase = last_act > first_purchase ? last_act : first_purchase;
            last_act = last_purchase;
        }
    }
    canon_set_num(r, CF_AVAILABLE_POINTS, earned - used - expired);
    canon_set_num(r, CF_EARNED_POINTS, earned);
    canon_set_num(r, CF_USED_POINTS, used);
    canon_set_num(r, CF_HOLD_POINTS, existing && rng_chance(0.1) ? rng_range(10, 300) : 0);
    canon_set_num(r, CF_NEXT_EXPIRING_POINTS, 0);
    canon_set_null(r, CF_POINTS_EXPIRATION_DATE);
    canon_set_num(r, CF_EXPIRED_POINTS, expired);
    int tier = tier_for(g, rolling);
    if (existing && tier + 1 < g->prog.ntiers && rng_chance(0.1))
        tier++; /* still holds a tier it no longer qualifies for: downgraded at its next anniversary */
    canon_set_str(r, CF_CURRENT_TIER, g->prog.tier_name[tier]);
    int64_t tad = enrol_day;
    if (tier > 0) {
        int64_t lo = today - 3 * 365 > enrol_day ? today - 3 * 365 : enrol_day;
        tad = rng_range(lo, today - 1 >= lo ? today - 1 : lo);
    }
    canon_set_num(r, CF_TIER_ACHIEVE_DATE, tad);
    if (earned > 0) {
        canon_set_num(r, CF_FIRST_ACTIVITY_DATE, first_purchase);
        canon_set_num(r, CF_LAST_ACTIVITY_DATE, last_act);
        canon_set_num(r, CF_FIRST_PURCHASE_DATE, first_purchase);
        canon_set_num(r, CF_LAST_PURCHASE_DATE, last_purchase);
    } else {
        canon_set_null(r, CF_FIRST_ACTIVITY_DATE);
        canon_set_null(r, CF_LAST_ACTIVITY_DATE);
        canon_set_null(r, CF_FIRST_PURCHASE_DATE);
        canon_set_null(r, CF_LAST_PURCHASE_DATE);
    }
    uint64_t segs = 0;
    if (tier >= 2 || rng_chance(0.05))
        segs |= 1u << SEG_VIP;
    if (rng_chance(0.4))
        segs |= 1u << SEG_NEWSLETTER;
    if (rng_chance(0.25))
        segs |= 1u << SEG_BIRTHDAY;
    if (m->heavy)
        segs |= 1u << SEG_HIGH_SPENDER;
    canon_set_num(r, CF_SEGMENTS, 0);
    r->segs = segs;
    schedule_expiry(m, today);
    refresh_derived(g, m, today);
    set_anniversary_schedule(m, today);
}

/* ------------------------------------------------------------------ output */

static void write_line(gen_t *g, tl_out_t *f)
{
    jw_char(&g->w, '\n');
    jw_flush_out(&g->w, f);
}

/* True when a and b hold the same fields and values, so they certainly serialise alike
 * (false may still serialise alike: canon_same then compares the JSON). */
static bool canon_values_equal(const canon_t *a, const canon_t *b)
{
    if (a->present != b->present || a->isnull != b->isnull || a->bad_field != b->bad_field)
        return false;
    if (a->bad_field >= 0 && strcmp(a->bad_value, b->bad_value) != 0)
        return false;
    for (int f = 0; f < CF_COUNT; f++) {
        if (!CANON_HAS(a, f) || CANON_NULL(a, f) || f == a->bad_field)
            continue;
        switch (tl_fields[f].type) {
        case CT_STR:
        case CT_YESNO:
        case CT_ACTIVE:
        case CT_REWARDS:
            if (a->v[f].s != b->v[f].s && strcmp(a->v[f].s, b->v[f].s) != 0)
                return false;
            break;
        case CT_SEGMENTS:
            if (a->segs != b->segs)
                return false;
            break;
        default:
            if (a->v[f].n != b->v[f].n)
                return false;
        }
    }
    return true;
}

/* 1 if two records serialise to the same canonical JSON. */
static int canon_same(gen_t *g, const canon_t *a, const canon_t *b)
{
    size_t mark = g->w.len, alen;
    int same;
    if (canon_values_equal(a, b))
        return 1;

    canon_write(&g->w, a);
    alen = g->w.len - mark;
    canon_write(&g->w, b);
    same = g->w.len - mark - alen == alen && memcmp(g->w.buf + mark, g->w.buf + mark + alen, alen) == 0;
    g->w.len = mark;
    return same;
}

/* Writes a change the emulator applies without sending a webhook. */
static void write_silent_change(gen_t *g, const canon_t *rec)
{
    jw_t *w = &g->w;
    char ts[21], id[40];
    tl_fmt_ts(rec->v[CF_AS_OF].n, ts);
    snprintf(id, sizeof(id), "silent-%s", rec->v[CF_LOYALTY_ID].s);
    JW_LIT(w, "{\"at\":");
    jw_str(w, ts);
    JW_LIT(w, ",\"type\":\"USER_UPDATE\",\"event_id\":");
    jw_str(w, id);
    JW_LIT(w, ",\"silent\":true,\"member\":");
    canon_write(w, rec);
    jw_char(w, '}');
    write_line(g, g->f_changes);
}

/* Writes a bad copy as a change the emulator delivers as a webhook without
 * applying it (deliver_only): Annex Cloud sends bad data, but its state
 * stays what the good changes made it, and the stream holds the copy. */
static void write_bad_change(gen_t *g, const canon_t *bad)
{
    jw_t *w = &g->w;
    char ts[21], id[40];
    tl_fmt_ts(bad->v[CF_AS_OF].n, ts);
    snprintf(id, sizeof(id), "bad-%016" PRIx64, (uint64_t)((g->seed * 0x9E3779B97F4A7C15ull) ^ (g->nbad + 1)));
    JW_LIT(w, "{\"at\":");
    jw_str(w, ts);
    JW_LIT(w, ",\"type\":\"USER_UPDATE\",\"event_id\":");
    jw_str(w, id);
    JW_LIT(w, ",\"deliver_only\":true,\"member\":");
    canon_write(w, bad);
    jw_char(w, '}');
    write_line(g, g->f_changes);
}

/* Writes rec to the stream and feeds the stream truth; maybe follows it with a bad copy. */
static void emit_stream(gen_t *g, const canon_t *rec)
{
    canon_write(&g->w, rec);
    write_line(g, g->f_stream);
    if (g->t_stream)
        feeder_push(&g->feed_stream, rec);
    g->nstream++;
    if (g->bad_rate <= 0 || !rng_chance(g->bad_rate))
        return;
    canon_t bad = *rec;
    int kind = (int)(g->nbad % NBAD);
    switch (kind) {
    case BAD_MISSING_EMAIL: canon_unset(&bad, CF_EMAIL); break;
    case BAD_DATE: {
        static const int fields[] = {CF_BIRTHDAY, CF_ANNIVERSARY_DATE, CF_OPT_IN_DATE, CF_TIER_ACHIEVE_DATE};
        static const char *const date_forms[] = {"\"2026-02-30\"", "\"14/02/2026\"", "\"2026-13-01\"", "\"2026-1-5\""};
        int f = fields[rng_range(0, 3)];
        bad.bad_field = f;
        bad.bad_value = f == CF_OPT_IN_DATE ? "\"2026-01-02 10:11:12\"" : date_forms[rng_range(0, 3)];
        break;
    }
    case BAD_NEG_POINTS: {
        static const int fields[] = {CF_AVAILABLE_POINTS, CF_EARNED_POINTS, CF_USED_POINTS, CF_HOLD_POINTS};
        canon_set_num(&bad, fields[rng_range(0, 3)], -rng_range(1, 500));
        break;
    }
    case BAD_OVERSIZE: canon_set_str(&bad, CF_FIRST_NAME, g->oversize_name); break;
    default: break;
    }
    canon_write(&g->w, &bad);
    write_line(g, g->f_stream);
    write_bad_change(g, &bad);
    if (g->t_stream)
        feeder_push(&g->feed_stream, &bad);
    g->nbad++;
    g->bad_by_kind[kind]++;
    g->nstream++;
}

static void write_activity(jw_t *w, const change_t *c, uint64_t seed)
{
    const activity_t *a = &c->act;
    char ts[21];
    tl_fmt_ts(c->at, ts);
    JW_LIT(w, ",\"activity\":{\"activityId\":");
    char id[40];
    snprintf(id, sizeof(id), "%08" PRIx64 "-%04" PRIx64 "-%012" PRIx64, (seed * 2654435761u) & 0xffffffffu, (uint64_t)c->seq & 0xffff,
             (uint64_t)c->seq);
    jw_str(w, id);
    JW_LIT(w, ",\"actionId\":");
    jw_int(w, a->action_id);
    JW_LIT(w, ",\"activity\":");
    jw_str(w, a->kind);
    JW_LIT(w, ",\"credit\":");
    if (a->credit)
        jw_int(w, a->credit);
    else
        JW_LIT(w, "null");
    JW_LIT(w, ",\"debit\":");
    if (a->debit)
        jw_int(w, a->debit);
    else
        JW_LIT(w, "null");
    JW_LIT(w, ",\"pointType\":\"Standard\",\"pointStatus\":");
    jw_str(w, a->status);
    JW_LIT(w, ",\"displayText\":");
    jw_str(w, a->display);
    JW_LIT(w, ",\"rewardId\":");
    if (a->reward_id)
        jw_str(w, a->reward_id);
    else
        JW_LIT(w, "null");
    char ct[40];
    snprintf(ct, sizeof(ct), "%.19s+0000", ts);
    JW_LIT(w, ",\"createDate\":");
    jw_str(w, ct);
    jw_char(w, '}');
}

static void write_change(gen_t *g, const change_t *c)
{
    jw_t *w = &g->w;
    char ts[21], id[40];
    tl_fmt_ts(c->at, ts);
    snprintf(id, sizeof(id), "chg-%016" PRIx64, (uint64_t)((g->seed * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)c->seq * 0xBF58476D1CE4E5B9ull)));
    JW_LIT(w, "{\"at\":");
    jw_str(w, ts);
    JW_LIT(w, ",\"type\":");
    jw_str(w, chg_names[c->type]);
    JW_LIT(w, ",\"event_id\":");
    jw_str(w, id);
    JW_LIT(w, ",\"member\":");
    canon_write(w, &c->rec);
    if (c->act.action_id)
        write_activity(w, c, g->seed);
    jw_char(w, '}');
    write_line(g, g->f_changes);
}

/* ------------------------------------------------------------------ simulation */

static change_t *push_change(gen_t *g)
{
    if (g->nchg == g->capchg) {
        g->capchg = g->capchg ? g->capchg * 2 : 4096;
        change_t *n = realloc(g->day_changes, g->capchg * sizeof(*n));
        if (!n) {
            fputs("loyaltygen: out of memory\n", stderr);
            exit(1);
        }
        g->day_changes = n;
    }
    change_t *c = &g->day_changes[g->nchg++];
    memset(c, 0, sizeof(*c));
    return c;
}

static int cmp_change(const void *a, const void *b)
{
    const change_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    if (x->member != y->member)
        return x->member < y->member ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void record_change(gen_t *g, gmember_t *m, uint32_t mi, int type, int64_t at, const activity_t *act)
{
    refresh_derived(g, m, at / 86400);
    canon_set_num(&m->rec, CF_AS_OF, at);
    change_t *c = push_change(g);
    c->at = at;
    c->member = mi;
    c->seq = (uint32_t)g->chg_seq++;
    c->type = (uint8_t)type;
    if (act)
        c->act = *act;
    c->rec = m->rec;
}

static void touch_activity(canon_t *r, int64_t day, bool purchase)
{
    if (CANON_NULL(r, CF_FIRST_ACTIVITY_DATE))
        canon_set_num(r, CF_FIRST_ACTIVITY_DATE, day);
    canon_set_num(r, CF_LAST_ACTIVITY_DATE, day);
    if (purchase) {
        if (CANON_NULL(r, CF_FIRST_PURCHASE_DATE))
            canon_set_num(r, CF_FIRST_PURCHASE_DATE, day);
        canon_set_num(r, CF_LAST_PURCHASE_DATE, day);
    }
}

enum action { A_ANNIV, A_EXPIRE, A_PURCHASE, A_BONUS, A_HOLD, A_REDEEM, A_OPTOUT, A_OPTIN, A_PROFILE, A_SEGMENT, NACTIONS };

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Simulates one member's day. */
static void simulate_member_day(gen_t *g, uint32_t mi, int64_t day)
{
    gmember_t *m = &g->m[mi];
    canon_t *r = &m->rec;
    int acts[NACTIONS], n = 0;
    bool in = strcmp(r->v[CF_OPT_IN_STATUS].s, "yes") == 0;
    if (m->next_anniv == day)
        acts[n++] = A_ANNIV;
    if (!CANON_NULL(r, CF_POINTS_EXPIRATION_DATE) && r->v[CF_POINTS_EXPIRATION_DATE].n <= day && r->v[CF_NEXT_EXPIRING_POINTS].n > 0)
        acts[n++] = A_EXPIRE;
    int early = n;
    if (rng_chance(m->heavy ? 0.10 : 0.03))
        acts[n++] = A_PURCHASE;
    if (rng_chance(0.003))
        acts[n++] = A_BONUS;
    if (rng_chance(0.004))
        acts[n++] = A_HOLD;
    if (r->v[CF_AVAILABLE_POINTS].n >= reward_points[0] && rng_chance(0.01))
        acts[n++] = A_REDEEM;
    if (in && rng_chance(0.001))
        acts[n++] = A_OPTOUT;
    if (!in && !CANON_NULL(r, CF_OPT_OUT_DATE) && r->v[CF_OPT_OUT_DATE].n < day && rng_chance(0.02))
        acts[n++] = A_OPTIN;
    if (rng_chance(0.002))
        acts[n++] = A_PROFILE;
    if (rng_chance(0.003))
        acts[n++] = A_SEGMENT;
    if (n == 0)
        return;
    int64_t times[NACTIONS];
    for (int i = 0; i < n; i++)
        times[i] = i < early ? rng_range(0, 3599) : rng_range(3600, 86399);
    qsort(times, (size_t)early, sizeof(int64_t), cmp_i64);
    qsort(times + early, (size_t)(n - early), sizeof(int64_t), cmp_i64);
    for (int i = 0; i < n; i++) {
        int64_t at = day * 86400 + times[i];
        activity_t act = {0};
        int cur = program_tier_index(&g->prog, r->v[CF_CURRENT_TIER].s);
        switch (acts[i]) {
        case A_ANNIV: {
            int q = tier_for(g, rolling_points(m, day));
            if (q < cur) {
                canon_set_str(r, CF_CURRENT_TIER, g->prog.tier_name[q]);
                canon_set_num(r, CF_TIER_ACHIEVE_DATE, day);
                set_anniversary_schedule(m, day);
                record_change(g, m, mi, CH_TIER_DOWNGRADE, at, NULL);
            } else {
                m->anniv_n++;
                m->next_anniv = tl_add_years(r->v[CF_TIER_ACHIEVE_DATE].n, m->anniv_n);
            }
            break;
        }
        case A_EXPIRE: {
            int64_t amount = r->v[CF_NEXT_EXPIRING_POINTS].n;
            if (amount > r->v[CF_AVAILABLE_POINTS].n)
                amount = r->v[CF_AVAILABLE_POINTS].n;
            canon_set_num(r, CF_AVAILABLE_POINTS, r->v[CF_AVAILABLE_POINTS].n - amount);
            canon_set_num(r, CF_EXPIRED_POINTS, r->v[CF_EXPIRED_POINTS].n + amount);
            schedule_expiry(m, day);
            act = (activity_t){.action_id = 99, .debit = amount, .kind = "DEBIT", .display = "Points Expired", .status = "Expired"};
            record_change(g, m, mi, CH_POINTS_EXPIRE, at, &act);
            break;
        }
        case A_PURCHASE:
        case A_BONUS: {
            bool purchase = acts[i] == A_PURCHASE;
            int64_t pts = purchase ? rng_range(20, 600) * (m->heavy ? 4 : 1) : rng_range(10, 200);
            canon_set_num(r, CF_EARNED_POINTS, r->v[CF_EARNED_POINTS].n + pts);
            canon_set_num(r, CF_AVAILABLE_POINTS, r->v[CF_AVAILABLE_POINTS].n + pts);
            if (r->v[CF_HOLD_POINTS].n > 0 && rng_chance(0.3))
                canon_set_num(r, CF_HOLD_POINTS, 0); /* the held order was released */
            if (r->v[CF_NEXT_EXPIRING_POINTS].n == 0)
                schedule_expiry(m, day);
            add_accrual(m, day, pts);
            touch_activity(r, day, purchase);
            act = (activity_t){.action_id = purchase ? 109 : 100, .credit = pts, .kind = "CREDIT",
                               .display = purchase ? "Purchase" : "Bonus Points", .status = "Released"};
            int q = tier_for(g, rolling_points(m, day));
            if (q > cur) {
                canon_set_str(r, CF_CURRENT_TIER, g->prog.tier_name[q]);
                canon_set_num(r, CF_TIER_ACHIEVE_DATE, day);
                set_anniversary_schedule(m, day);
                if (q >= 2)
                    r->segs |= 1u << SEG_VIP;
                record_change(g, m, mi, CH_TIER_UPGRADE, at, &act);
            } else {
                record_change(g, m, mi, CH_POINTS_CREDIT, at, &act);
            }
            break;
        }
        case A_HOLD: {
            int64_t pts = rng_range(10, 300);
            canon_set_num(r, CF_HOLD_POINTS, r->v[CF_HOLD_POINTS].n + pts);
            act = (activity_t){.action_id = 109, .credit = pts, .kind = "CREDIT", .display = "Purchase", .status = "Hold"};
            record_change(g, m, mi, CH_POINTS_HOLD, at, &act);
            break;
        }
        case A_REDEEM: {
            int k = 0;
            while (k < NREWARDS && reward_points[k] <= r->v[CF_AVAILABLE_POINTS].n)
                k++;
            if (k == 0)
                break;
            int pick = (int)rng_range(0, k - 1);
            canon_set_num(r, CF_USED_POINTS, r->v[CF_USED_POINTS].n + reward_points[pick]);
            canon_set_num(r, CF_AVAILABLE_POINTS, r->v[CF_AVAILABLE_POINTS].n - reward_points[pick]);
            touch_activity(r, day, false);
            act = (activity_t){.action_id = 107, .debit = reward_points[pick], .kind = "DEBIT", .display = "Reward Redemption",
                               .status = "Released", .reward_id = reward_ids[pick]};
            record_change(g, m, mi, CH_POINTS_DEBIT, at, &act);
            break;
        }
        case A_OPTOUT:
            canon_set_str(r, CF_OPT_IN_STATUS, "no");
            canon_set_num(r, CF_OPT_OUT_DATE, day);
            record_change(g, m, mi, CH_OPT_OUT, at, NULL);
            break;
        case A_OPTIN:
            canon_set_str(r, CF_OPT_IN_STATUS, "yes");
            canon_set_num(r, CF_OPT_IN_DATE, at);
            canon_set_null(r, CF_OPT_OUT_DATE);
            record_change(g, m, mi, CH_OPT_IN, at, NULL);
            break;
        case A_PROFILE: {
            int what = (int)rng_range(0, 2);
            int country = (int)rng_range(0, 7);
            if (what == 0)
                canon_set_str(r, CF_ZIP_CODE, random_zip(country));
            else if (what == 1)
                canon_set_str(r, CF_PHONE, random_phone(country, (long)mi + 1));
            else
                canon_set_str(r, CF_LAST_NAME, last_names[rng_range(0, COUNT(last_names) - 1)].display);
            record_change(g, m, mi, CH_USER_UPDATE, at, NULL);
            break;
        }
        case A_SEGMENT:
            r->segs ^= 1u << rng_range(0, NSEG - 1);
            record_change(g, m, mi, CH_USER_UPDATE, at, NULL);
            break;
        }
    }
}

static void grow_members(gen_t *g)
{
    if (g->nm < g->capm)
        return;
    g->capm = g->capm ? g->capm * 2 : 1024;
    gmember_t *n = realloc(g->m, g->capm * sizeof(*n));
    if (!n) {
        fputs("loyaltygen: out of memory\n", stderr);
        exit(1);
    }
    g->m = n;
}

static void simulate_day(gen_t *g, int64_t day)
{
    size_t existing = g->nm;
    g->nchg = 0;
    for (size_t i = 0; i < existing; i++)
        simulate_member_day(g, (uint32_t)i, day);
    /* new enrolments */
    double expect = (double)g->members * 0.0005;
    long newcount = (long)expect + (rng_chance(expect - (double)(long)expect) ? 1 : 0);
    for (long k = 0; k < newcount; k++) {
        grow_members(g);
        gmember_t *m = &g->m[g->nm];
        make_member(g, m, (long)g->nm + 1, day, false, day);
        int64_t at = day * 86400 + rng_range(0, 86399);
        canon_set_num(&m->rec, CF_OPT_IN_DATE, at);
        g->nm++;
        g->enrolled++;
        record_change(g, m, (uint32_t)(g->nm - 1), CH_USER_CREATE, at, NULL);
    }
    qsort(g->day_changes, g->nchg, sizeof(*g->day_changes), cmp_change);
    for (size_t i = 0; i < g->nchg; i++) {
        const change_t *c = &g->day_changes[i];
        write_change(g, c);
        emit_stream(g, &c->rec);
        g->nchanges++;
        g->by_type[c->type]++;
    }
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fputs("usage: loyaltygen --seed S --members N --days D [--start 2026-01-01] [--bad-rate 0.01]\n"
          "                  [--odd-names 0]\n"
          "                  [--ladder Bronze:0,Silver:1000,Gold:5000,Platinum:15000] [--close-threshold N|N%]\n"
          "                  [--truth both|stream|snapshot|none] [--direct-io auto|on|off] --out DIR\n",
          f);
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end = NULL;
    errno = 0;
    if (*s == '-')
        return false;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *v = x;
    return true;
}

static bool parse_ladder(const char *spec, program_t *p, char *msg, size_t msglen)
{
    const char *s = spec;
    p->ntiers = 0;
    while (*s) {
        const char *colon = strchr(s, ':');
        if (!colon || colon == s || p->ntiers == TL_MAX_TIERS) {
            snprintf(msg, msglen, "--ladder: expected Name:points[,Name:points...] at \"%s\"", s);
            return false;
        }
        char *end = NULL;
        errno = 0;
        long long pts = strtoll(colon + 1, &end, 10);
        if (errno || end == colon + 1 || (*end && *end != ',') || pts < 0) {
            snprintf(msg, msglen, "--ladder: bad points after \"%.*s:\"", (int)(colon - s), s);
            return false;
        }
        if ((p->ntiers == 0 && pts != 0) || (p->ntiers > 0 && pts <= p->tier_points[p->ntiers - 1])) {
            snprintf(msg, msglen, "--ladder: thresholds must start at 0 and increase (\"%.*s\")", (int)(colon - s), s);
            return false;
        }
        p->tier_name[p->ntiers] = tl_strndup(s, (size_t)(colon - s));
        p->tier_points[p->ntiers++] = pts;
        s = *end ? end + 1 : end;
    }
    if (p->ntiers == 0) {
        snprintf(msg, msglen, "--ladder: no tiers");
        return false;
    }
    return true;
}

static int write_program(gen_t *g, const char *path)
{
    char ts[21];
    jw_t *w = &g->w;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    JW_LIT(w, "{\"seed\":");
    jw_int(w, (int64_t)g->seed);
    JW_LIT(w, ",\"members\":");
    jw_int(w, g->members);
    JW_LIT(w, ",\"days\":");
    jw_int(w, g->days);
    tl_fmt_ts(g->start_day * 86400, ts);
    JW_LIT(w, ",\"start\":");
    jw_str(w, ts);
    tl_fmt_ts(g->end_secs, ts);
    JW_LIT(w, ",\"end\":");
    jw_str(w, ts);
    JW_LIT(w, ",\"site_id\":\"29235480\",\n\"tiers\":[");
    for (int i = 0; i < g->prog.ntiers; i++) {
        jw_lit(w, i ? ",{\"name\":" : "{\"name\":");
        jw_str(w, g->prog.tier_name[i]);
        JW_LIT(w, ",\"points\":");
        jw_int(w, g->prog.tier_points[i]);
        jw_char(w, '}');
    }
    JW_LIT(w, "],\n\"segments\":[");
    for (int i = 0; i < NSEG; i++) {
        jw_lit(w, i ? ",{\"id\":" : "{\"id\":");
        jw_str(w, segment_ids[i]);
        JW_LIT(w, ",\"name\":");
        jw_str(w, segment_names[i]);
        jw_char(w, '}');
    }
    JW_LIT(w, "],\n\"rewards\":[");
    for (int i = 0; i < NREWARDS; i++) {
        jw_lit(w, i ? ",{\"id\":" : "{\"id\":");
        jw_str(w, reward_ids[i]);
        JW_LIT(w, ",\"name\":");
        jw_str(w, reward_names[i]);
        JW_LIT(w, ",\"points\":");
        jw_int(w, reward_points[i]);
        jw_char(w, '}');
    }
    JW_LIT(w, "]}\n");
    bool ok = jw_flush_to(w, f);
    if (fclose(f) != 0 || !ok)
        return -1;
    return 0;
}

static tl_out_t *open_out(const gen_t *g, const char *dir, const char *name)
{
    char path[4096], msg[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    tl_out_t *f = tl_out_open(path, g->direct_io, msg, sizeof(msg));
    if (!f)
        fprintf(stderr, "loyaltygen: %s\n", msg);
    return f;
}

/* Closes *fp (NULL: nothing) and NULLs it. Returns false after printing the error. */
static bool close_out(tl_out_t **fp, const char *dir, const char *name)
{
    char path[4096], msg[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int rc = tl_out_close(*fp, msg, sizeof(msg), path);
    *fp = NULL;
    if (rc != 0)
        fprintf(stderr, "loyaltygen: %s\n", msg);
    return rc == 0;
}

static bool make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "loyaltygen: cannot create %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    gen_t g;
    char msg[1024], path[4096];
    const char *start = "2026-01-01", *ladder = "Bronze:0,Silver:1000,Gold:5000,Platinum:15000";
    truth_opts_t topts = {.collection = "annex_loyalty", .close_threshold = 100};
    bool have_seed = false, have_members = false, have_days = false;
    const char *direct_io = "auto";
    int rc = 1;
    memset(&g, 0, sizeof(g));
    g.bad_rate = 0.01;
    g.truth_stream = g.truth_snapshot = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "loyaltygen: %s needs a value\n", a);
            return 64;
        }
        const char *v = argv[++i];
        uint64_t u;
        if (strcmp(a, "--seed") == 0 && parse_u64(v, &u)) {
            g.seed = u;
            have_seed = true;
        } else if (strcmp(a, "--members") == 0 && parse_u64(v, &u) && u <= 50000000) {
            g.members = (long)u;
            have_members = true;
        } else if (strcmp(a, "--days") == 0 && parse_u64(v, &u) && u <= 3650) {
            g.days = (long)u;
            have_days = true;
        } else if (strcmp(a, "--start") == 0) {
            start = v;
        } else if (strcmp(a, "--bad-rate") == 0) {
            char *end = NULL;
            errno = 0;
            g.bad_rate = strtod(v, &end);
            if (errno || end == v || *end || !(g.bad_rate >= 0 && g.bad_rate <= 1)) {
                fprintf(stderr, "loyaltygen: --bad-rate: \"%s\" is not a number in [0,1]\n", v);
                return 64;
            }
        } else if (strcmp(a, "--odd-names") == 0) {
            char *end = NULL;
            errno = 0;
            g.odd_name_rate = strtod(v, &end);
            if (errno || end == v || *end || !(g.odd_name_rate >= 0 && g.odd_name_rate <= 1)) {
                fprintf(stderr, "loyaltygen: --odd-names: \"%s\" is not a number in [0,1]\n", v);
                return 64;
            }
        } else if (strcmp(a, "--ladder") == 0) {
            ladder = v;
        } else if (strcmp(a, "--truth") == 0) {
            g.truth_stream = strcmp(v, "both") == 0 || strcmp(v, "stream") == 0;
            g.truth_snapshot = strcmp(v, "both") == 0 || strcmp(v, "snapshot") == 0;
            if (!g.truth_stream && !g.truth_snapshot && strcmp(v, "none") != 0) {
                fprintf(stderr, "loyaltygen: --truth: \"%s\" is not both, stream, snapshot or none\n", v);
                return 64;
            }
        } else if (strcmp(a, "--direct-io") == 0) {
            if (strcmp(v, "auto") != 0 && strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "loyaltygen: --direct-io: \"%s\" is not auto, on or off\n", v);
                return 64;
            }
            direct_io = v;
        } else if (strcmp(a, "--out") == 0) {
            g.out = v;
        } else if (strcmp(a, "--close-threshold") == 0) {
            char *end = NULL;
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || end == v || x < 0 || (*end && strcmp(end, "%") != 0)) {
                fprintf(stderr, "loyaltygen: --close-threshold: \"%s\" is not N or N%%\n", v);
                return 64;
            }
            topts.close_threshold = x;
            topts.close_percent = *end == '%';
        } else {
            fprintf(stderr, "loyaltygen: bad option or value: %s %s\n", a, v);
            usage(stderr);
            return 64;
        }
    }
    if (!have_seed || !have_members || !have_days || !g.out) {
        fprintf(stderr, "loyaltygen: --seed, --members, --days and --out are required\n");
        usage(stderr);
        return 64;
    }
    if (!tl_parse_date(start, &g.start_day)) {
        int64_t secs;
        if (!tl_parse_ts(start, &secs) || secs % 86400) {
            fprintf(stderr, "loyaltygen: --start: \"%s\" is not a date YYYY-MM-DD\n", start);
            return 64;
        }
        g.start_day = secs / 86400;
    }
    if (!parse_ladder(ladder, &g.prog, msg, sizeof(msg))) {
        fprintf(stderr, "loyaltygen: %s\n", msg);
        return 64;
    }
    g.end_secs = (g.start_day + g.days) * 86400;
    /* auto: gigabytes of output (from 100,000 members on) bypass the page cache */
    g.direct_io = strcmp(direct_io, "on") == 0 || (strcmp(direct_io, "auto") == 0 && g.members >= DIRECT_IO_MEMBERS);
    topts.direct_io = g.direct_io;
    for (int i = 0; i < NSEG; i++) {
        tl_segment_index(segment_names[i]);
        g.prog.segment_id[i] = segment_ids[i];
    }
    g.prog.nsegments = NSEG;
    g.prog.nrewards = NREWARDS;
    for (int i = 0; i < NREWARDS; i++) {
        g.prog.reward_id[i] = reward_ids[i];
        g.prog.reward_name[i] = reward_names[i];
        g.prog.reward_points[i] = reward_points[i];
    }
    {
        jw_t j = {0};
        rewards_joined[0] = "";
        for (int k = 1; k <= NREWARDS; k++) {
            if (k > 1)
                JW_LIT(&j, " | ");
            jw_lit(&j, reward_names[k - 1]);
            rewards_joined[k] = tl_strndup(j.buf, j.len);
        }
        jw_free(&j);
    }
    g.oversize_name = malloc(70001);
    if (!g.oversize_name)
        goto out;
    memset(g.oversize_name, 'A', 70000);
    g.oversize_name[70000] = 0;
    rng_state = g.seed;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    snprintf(path, sizeof(path), "%s/annex", g.out);
    if (!make_dir(g.out) || !make_dir(path))
        goto out;
    snprintf(path, sizeof(path), "%s/truth", g.out);
    if (!make_dir(path))
        goto out;
    snprintf(path, sizeof(path), "%s/program.json", g.out);
    if (write_program(&g, path) != 0) {
        fprintf(stderr, "loyaltygen: cannot write %s\n", path);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/annex", g.out);
    if (!(g.f_members = open_out(&g, path, "members.jsonl")) || !(g.f_changes = open_out(&g, path, "changes.jsonl")) ||
        !(g.f_stream = open_out(&g, g.out, "stream.jsonl")) || !(g.f_final = open_out(&g, g.out, "final.jsonl")))
        goto out;
    snprintf(path, sizeof(path), "%s/truth/stream", g.out);
    if (g.truth_stream && !(g.t_stream = truth_create(path, &g.prog, &topts, msg, sizeof(msg)))) {
        fprintf(stderr, "loyaltygen: %s\n", msg);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/truth/snapshot", g.out);
    if (g.truth_snapshot && !(g.t_snap = truth_create(path, &g.prog, &topts, msg, sizeof(msg)))) {
        fprintf(stderr, "loyaltygen: %s\n", msg);
        goto out;
    }
    if (g.t_stream)
        truth_reserve(g.t_stream, (size_t)g.members);
    if (g.t_snap)
        truth_reserve(g.t_snap, (size_t)g.members);
    if ((g.t_stream && feeder_start(&g.feed_stream, g.t_stream, msg, sizeof(msg)) != 0) ||
        (g.t_snap && feeder_start(&g.feed_snap, g.t_snap, msg, sizeof(msg)) != 0)) {
        fprintf(stderr, "loyaltygen: %s\n", msg);
        goto out;
    }

    /* the program at the start */
    g.capm = (size_t)g.members + (size_t)((double)g.members * 0.0005 * (double)g.days) + 16;
    g.m = malloc(g.capm * sizeof(*g.m));
    if (!g.m) {
        fputs("loyaltygen: out of memory\n", stderr);
        goto out;
    }
    tl_advise_huge(g.m, g.capm * sizeof(*g.m));
    for (long i = 0; i < g.members; i++) {
        gmember_t *m = &g.m[g.nm++];
        make_member(&g, m, i + 1, g.start_day - rng_range(1, 5 * 365), true, g.start_day);
        canon_set_num(&m->rec, CF_AS_OF, g.start_day * 86400);
        canon_write(&g.w, &m->rec);
        write_line(&g, g.f_members);
        if (g.t_snap)
            feeder_push(&g.feed_snap, &m->rec);
        emit_stream(&g, &m->rec);
    }
    for (long d = 0; d < g.days; d++)
        simulate_day(&g, g.start_day + d);
    /* the final full sync; values that moved without an event (the
     * rolling tier window) reach the emulator as silent changes: applied
     * to Annex Cloud's state at the end, no webhook (nothing told anyone),
     * so only an API sync sees them, as in the real service */
    for (size_t i = 0; i < g.nm; i++) {
        gmember_t *m = &g.m[i];
        canon_t before = m->rec;
        refresh_derived(&g, m, g.end_secs / 86400);
        canon_set_num(&before, CF_AS_OF, g.end_secs);
        canon_set_num(&m->rec, CF_AS_OF, g.end_secs);
        if (!canon_same(&g, &before, &m->rec))
            write_silent_change(&g, &m->rec);
        canon_write(&g.w, &m->rec);
        write_line(&g, g.f_final);
        if (g.t_snap)
            feeder_push(&g.feed_snap, &m->rec);
    }
    {
        /* both engines finish (sort and write their files) in parallel */
        char msg2[1024];
        int rc_stream = g.t_stream ? feeder_finish(&g.feed_stream, msg, sizeof(msg)) : 0;
        int rc_snap = g.t_snap ? feeder_finish(&g.feed_snap, msg2, sizeof(msg2)) : 0;
        if (rc_stream != 0 || rc_snap != 0) {
            fprintf(stderr, "loyaltygen: %s\n", rc_stream != 0 ? msg : msg2);
            goto out;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        uint64_t ev[8] = {0}, dlq = 0;
        if (g.t_stream)
            truth_counts(g.t_stream, ev, &dlq);
        jw_t *w = &g.w;
        char num[64];
        snprintf(num, sizeof(num), "loyaltygen: members=%zu enrolled=%" PRIu64 " changes=%" PRIu64 " [", g.nm, g.enrolled, g.nchanges);
        jw_lit(w, num);
        for (int i = 0; i < NCH; i++) {
            snprintf(num, sizeof(num), "%s%s=%" PRIu64, i ? " " : "", chg_names[i], g.by_type[i]);
            jw_lit(w, num);
        }
        snprintf(num, sizeof(num), "] stream=%" PRIu64 " bad=%" PRIu64 " [", g.nstream, g.nbad);
        jw_lit(w, num);
        for (int i = 0; i < NBAD; i++) {
            snprintf(num, sizeof(num), "%s%s=%" PRIu64, i ? " " : "", bad_names[i], g.bad_by_kind[i]);
            jw_lit(w, num);
        }
        JW_LIT(w, "] events [");
        for (int i = 0; i < 8; i++) {
            snprintf(num, sizeof(num), "%s%s=%" PRIu64, i ? " " : "", tl_event_types[i], ev[i]);
            jw_lit(w, num);
        }
        snprintf(num, sizeof(num), "] dlq=%" PRIu64 " in %.2f s\n", dlq,
                 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        jw_lit(w, num);
        jw_flush_to(w, stderr);
    }
    rc = 0;
out:
    if (g.out) {
        snprintf(path, sizeof(path), "%s/annex", g.out);
        if (!close_out(&g.f_members, path, "members.jsonl") | !close_out(&g.f_changes, path, "changes.jsonl") |
            !close_out(&g.f_stream, g.out, "stream.jsonl") | !close_out(&g.f_final, g.out, "final.jsonl"))
            rc = 1;
    }
    feeder_free(&g.feed_stream);
    feeder_free(&g.feed_snap);
    truth_destroy(&g.t_stream);
    truth_destroy(&g.t_snap);
    for (size_t i = 0; i < g.nm; i++)
        free(g.m[i].acc);
    free(g.m);
    free(g.day_changes);
    free(g.oversize_name);
    jw_free(&g.w);
    tl_arena_free();
    return rc;
}
