/* truthlib.c: the ground-truth engine: canonical records, derivation rules and destination shapes of docs/loyalty-schema.md. */
#define _GNU_SOURCE /* O_DIRECT */
#include "truthlib.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------ dates */

int64_t tl_days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tl_civil_from_days(int64_t z, int *yp, int *mp, int *dp)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp0 = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp0 + 2) / 5 + 1;
    const unsigned m = mp0 < 10 ? mp0 + 3 : mp0 - 9;
    *yp = (int)(y + (m <= 2));
    *mp = (int)m;
    *dp = (int)d;
}

bool tl_is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int tl_days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && tl_is_leap(y))
        return 29;
    return dim[m - 1];
}

/* Reads exactly n digits at s. Returns the value or -1. */
static int read_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parses the date part at s (10 chars). */
static bool parse_date_part(const char *s, int64_t *days)
{
    int y = read_digits(s, 4), m, d;
    if (y < 0 || s[4] != '-')
        return false;
    m = read_digits(s + 5, 2);
    if (m < 1 || m > 12 || s[7] != '-')
        return false;
    d = read_digits(s + 8, 2);
    if (d < 1 || d > tl_days_in_month(y, m))
        return false;
    *days = tl_days_from_civil(y, m, d);
    return true;
}

bool tl_parse_date(const char *s, int64_t *days)
{
    if (strlen(s) != 10)
        return false;
    return parse_date_part(s, days);
}

bool tl_parse_ts(const char *s, int64_t *secs)
{
    int64_t days;
    if (strlen(s) != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return false;
    if (!parse_date_part(s, &days))
        return false;
    int hh = read_digits(s + 11, 2), mm = read_digits(s + 14, 2), ss = read_digits(s + 17, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59)
        return false;
    *secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    return true;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Dates 1900-01-01 .. 2099-12-31 are formatted from a table built once, on first use
 * (formatting dates is a hot path of the truth writers). The table is built under
 * pthread_once and published through an atomic pointer, so loyaltygen's threads (the
 * generator and one per truth engine) may all format dates. */
#define DATE_CACHE_FIRST (-25567)
#define DATE_CACHE_DAYS 73049
static char (*_Atomic date_cache)[10];
static pthread_once_t date_cache_once = PTHREAD_ONCE_INIT;

static void fmt_date_slow(int64_t days, char out[11]);

static void build_date_cache(void)
{
    char tmp[11];
    char (*table)[10] = malloc(DATE_CACHE_DAYS * sizeof(*table));
    if (!table)
        return; /* every date is then formatted the slow way */
    for (int64_t i = 0; i < DATE_CACHE_DAYS; i++) {
        fmt_date_slow(DATE_CACHE_FIRST + i, tmp);
        memcpy(table[i], tmp, 10);
    }
    atomic_store_explicit(&date_cache, table, memory_order_release);
}

/* Writes the 10 characters of date `days` (no NUL) at out. */
static void put_date(int64_t days, char *out)
{
    if (days >= DATE_CACHE_FIRST && days < DATE_CACHE_FIRST + DATE_CACHE_DAYS) {
        char (*table)[10] = atomic_load_explicit(&date_cache, memory_order_acquire);
        if (!table) {
            pthread_once(&date_cache_once, build_date_cache);
            table = atomic_load_explicit(&date_cache, memory_order_acquire);
        }
        if (table) {
            memcpy(out, table[days - DATE_CACHE_FIRST], 10);
            return;
        }
    }
    char tmp[11];
    fmt_date_slow(days, tmp);
    memcpy(out, tmp, 10);
}

void tl_fmt_date(int64_t days, char out[11])
{
    put_date(days, out);
    out[10] = 0;
}

static void fmt_date_slow(int64_t days, char out[11])
{
    int y, m, d;
    tl_civil_from_days(days, &y, &m, &d);
    out[0] = (char)('0' + (y / 1000) % 10);
    out[1] = (char)('0' + (y / 100) % 10);
    out[2] = (char)('0' + (y / 10) % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = 0;
}

void tl_fmt_ts(int64_t secs, char out[21])
{
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    put_date(days, out);
    out[10] = 'T';
    put2(out + 11, (int)(rem / 3600));
    out[13] = ':';
    put2(out + 14, (int)(rem / 60 % 60));
    out[16] = ':';
    put2(out + 17, (int)(rem % 60));
    out[19] = 'Z';
    out[20] = 0;
}

int64_t tl_add_years(int64_t days, int years)
{
    int y, m, d;
    tl_civil_from_days(days, &y, &m, &d);
    y += years;
    if (m == 2 && d == 29 && !tl_is_leap(y))
        d = 28;
    return tl_days_from_civil(y, m, d);
}

/* ------------------------------------------------------------------ big allocations */

void tl_advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + n) & ~(huge - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#else
    (void)p;
    (void)n;
#endif
}

/* ------------------------------------------------------------------ arena */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block_t;
static arena_block_t *arena_head;

char *tl_strndup(const char *s, size_t len)
{
    if (!arena_head || arena_head->cap - arena_head->used < len + 1) {
        size_t cap = len + 1 > (4u << 20) ? len + 1 : (4u << 20);
        arena_block_t *b = malloc(sizeof(*b) + cap);
        if (!b) {
            fputs("out of memory\n", stderr);
            abort();
        }
        tl_advise_huge(b, sizeof(*b) + cap);
        b->next = arena_head;
        b->used = 0;
        b->cap = cap;
        arena_head = b;
    }
    char *p = arena_head->data + arena_head->used;
    memcpy(p, s, len);
    p[len] = 0;
    arena_head->used += len + 1;
    return p;
}

char *tl_strdup(const char *s) { return tl_strndup(s, strlen(s)); }

void tl_arena_free(void)
{
    while (arena_head) {
        arena_block_t *n = arena_head->next;
        free(arena_head);
        arena_head = n;
    }
}

/* ------------------------------------------------------------------ JSON writer */

/* Grows w->buf so that need more bytes fit (the rare path of jw_reserve). Aborts on OOM. */
static void jw_grow(jw_t *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + need)
        cap *= 2;
    char *nb = realloc(w->buf, cap);
    if (!nb) {
        fputs("out of memory\n", stderr);
        abort();
    }
    w->buf = nb;
    w->cap = cap;
}

/* Makes room for need more bytes. */
static inline void jw_reserve(jw_t *w, size_t need)
{
    if (need > w->cap - w->len)
        jw_grow(w, need);
}

void jw_reset(jw_t *w) { w->len = 0; }
void jw_free(jw_t *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}
void jw_raw(jw_t *w, const char *s, size_t n)
{
    jw_reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}
void jw_lit(jw_t *w, const char *s) { jw_raw(w, s, strlen(s)); }
void jw_char(jw_t *w, char c)
{
    jw_reserve(w, 1);
    w->buf[w->len++] = c;
}

#define BYTES_ONES 0x0101010101010101ull
#define BYTES_HIGHS 0x8080808080808080ull
/* True when one of the 8 bytes of v is a control character (< 0x20), '"' or '\\' (bit tricks
 * from "Bit Twiddling Hacks": hasless and haszero are exact for "is there such a byte"). */
static inline bool word_needs_escape(uint64_t v)
{
    uint64_t quote = v ^ (BYTES_ONES * '"'), backslash = v ^ (BYTES_ONES * '\\');
    uint64_t control = (v - BYTES_ONES * 0x20) & ~v;
    uint64_t is_quote = (quote - BYTES_ONES) & ~quote, is_backslash = (backslash - BYTES_ONES) & ~backslash;
    return ((control | is_quote | is_backslash) & BYTES_HIGHS) != 0;
}

/* Writes s[0..n) as a JSON string: escaped, UTF-8 passed through. Runs of 8 bytes that need no
 * escaping are copied as one word. */
static void jw_str_n(jw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    jw_reserve(w, n * 6 + 2);
    char *o = w->buf + w->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (!word_needs_escape(v)) {
                memcpy(o, &v, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i++];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\t': *o++ = 't'; break;
        case '\r': *o++ = 'r'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
}

void jw_str(jw_t *w, const char *s) { jw_str_n(w, s, strlen(s)); }

/* Writes date `days` as a JSON string "YYYY-MM-DD" (no escaping needed). */
static void jw_date(jw_t *w, int64_t days)
{
    jw_reserve(w, 12);
    char *o = w->buf + w->len;
    o[0] = '"';
    put_date(days, o + 1);
    o[11] = '"';
    w->len += 12;
}

/* Writes timestamp `secs` as a JSON string "YYYY-MM-DDTHH:MM:SSZ". */
static void jw_ts(jw_t *w, int64_t secs)
{
    char ts[21];
    tl_fmt_ts(secs, ts);
    jw_reserve(w, 22);
    char *o = w->buf + w->len;
    o[0] = '"';
    memcpy(o + 1, ts, 20);
    o[21] = '"';
    w->len += 22;
}

void jw_int(jw_t *w, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    jw_reserve(w, (size_t)n + 1);
    if (v < 0)
        w->buf[w->len++] = '-';
    while (n)
        w->buf[w->len++] = tmp[--n];
}

void jw_key(jw_t *w, bool *first, const char *key)
{
    if (!*first)
        jw_char(w, ',');
    *first = false;
    jw_str(w, key);
    jw_char(w, ':');
}

/* jw_key for a key already written as JSON text with its colon ("\"key\":", len bytes). */
static void jw_key_text(jw_t *w, bool *first, const char *text, size_t len)
{
    jw_reserve(w, len + 1);
    if (!*first)
        w->buf[w->len++] = ',';
    *first = false;
    memcpy(w->buf + w->len, text, len);
    w->len += len;
}
/* jw_key for a literal key that needs no escaping. */
#define JW_KEY(w, first, lit) jw_key_text((w), (first), "\"" lit "\":", sizeof(lit) + 2)

bool jw_flush_to(jw_t *w, FILE *f)
{
    bool ok = fwrite(w->buf, 1, w->len, f) == w->len;
    w->len = 0;
    return ok;
}

/* ------------------------------------------------------------------ output files */

#define OUT_BUFFER (4u << 20)  /* bytes per write(2); a multiple of OUT_ALIGN */
#define OUT_ALIGN 4096u        /* O_DIRECT: buffer address, file offset and length alignment */

/* Two buffers: the caller fills one while a writer thread writes the other, so computing and
 * the disk overlap (O_DIRECT writes wait for the device). Without the thread (it could not be
 * started) full buffers are written by the caller. */
struct tl_out {
    int fd;
    bool direct;     /* O_DIRECT still set on fd (changed by whoever writes) */
    _Atomic int err; /* first errno of a failed write, 0 = none */
    char *buf[2];
    int cur;         /* the buffer being filled */
    size_t len;      /* bytes in buf[cur] */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    const char *job; /* a full buffer handed to the writer; NULL = writer idle */
    size_t job_len;
    bool stop;
};

/* Turns O_DIRECT off on o's file: the rest goes through the page cache. Sets o->err on failure. */
static void drop_direct(tl_out_t *o)
{
#ifdef O_DIRECT
    int flags = fcntl(o->fd, F_GETFL);
    if (flags < 0 || fcntl(o->fd, F_SETFL, flags & ~O_DIRECT) < 0)
        o->err = errno;
#endif
    o->direct = false;
}

/* Writes buf[0..n) at the end of the file, retrying short writes. Drops O_DIRECT (and goes
 * on buffered) when the file system refuses a direct write or a short write breaks the
 * alignment. Returns false with o->err set on a write error. */
static bool out_write_all(tl_out_t *o, const char *buf, size_t n)
{
    while (n > 0 && o->err == 0) {
        ssize_t k = write(o->fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EINVAL && o->direct) {
            drop_direct(o);
            continue;
        }
        if (k <= 0) {
            o->err = k < 0 ? errno : EIO;
            break;
        }
        buf += k;
        n -= (size_t)k;
        if (n > 0 && o->direct && (size_t)k % OUT_ALIGN != 0)
            drop_direct(o);
    }
    return o->err == 0;
}

static void *out_writer_main(void *arg)
{
    tl_out_t *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->job && !o->stop)
            pthread_cond_wait(&o->changed, &o->lock);
        if (!o->job)
            break;
        const char *job = o->job;
        size_t n = o->job_len;
        pthread_mutex_unlock(&o->lock);
        out_write_all(o, job, n);
        pthread_mutex_lock(&o->lock);
        o->job = NULL;
        pthread_cond_broadcast(&o->changed);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

/* Waits until the writer has written the buffer it was handed. */
static void out_wait_idle(tl_out_t *o)
{
    if (!o->threaded)
        return;
    pthread_mutex_lock(&o->lock);
    while (o->job)
        pthread_cond_wait(&o->changed, &o->lock);
    pthread_mutex_unlock(&o->lock);
}

/* Hands the full buffer to the writer (after the previous one is written) and switches to the
 * other buffer; writes it directly without a writer. */
static void out_submit(tl_out_t *o)
{
    if (!o->threaded) {
        out_write_all(o, o->buf[o->cur], o->len);
        o->len = 0;
        return;
    }
    pthread_mutex_lock(&o->lock);
    while (o->job)
        pthread_cond_wait(&o->changed, &o->lock);
    o->job = o->buf[o->cur];
    o->job_len = o->len;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    o->cur ^= 1;
    o->len = 0;
}

tl_out_t *tl_out_open(const char *path, bool direct, char *msg, size_t msglen)
{
    tl_out_t *o = calloc(1, sizeof(*o));
    if (!o)
        goto oom;
    o->fd = -1;
    if (posix_memalign((void **)&o->buf[0], (size_t)2 << 20, 2 * (size_t)OUT_BUFFER) != 0) {
        o->buf[0] = NULL;
        goto oom;
    }
    tl_advise_huge(o->buf[0], 2 * (size_t)OUT_BUFFER);
    o->buf[1] = o->buf[0] + OUT_BUFFER;
#ifdef O_DIRECT
    if (direct) {
        o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0666);
        o->direct = o->fd >= 0;
    }
#else
    (void)direct;
#endif
    if (o->fd < 0)
        o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (o->fd < 0) {
        snprintf(msg, msglen, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->changed, NULL);
    o->threaded = pthread_create(&o->thread, NULL, out_writer_main, o) == 0;
    return o;
oom:
    snprintf(msg, msglen, "cannot write %s: out of memory", path);
fail:
    if (o)
        free(o->buf[0]);
    free(o);
    return NULL;
}

bool tl_out_write(tl_out_t *o, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0 && o->err == 0) {
        size_t room = OUT_BUFFER - o->len, take = n < room ? n : room;
        memcpy(o->buf[o->cur] + o->len, p, take);
        o->len += take;
        p += take;
        n -= take;
        if (o->len == OUT_BUFFER)
            out_submit(o);
    }
    return o->err == 0;
}

int tl_out_close(tl_out_t *o, char *msg, size_t msglen, const char *what)
{
    if (!o)
        return 0;
    out_wait_idle(o);
    if (o->threaded) {
        pthread_mutex_lock(&o->lock);
        o->stop = true;
        pthread_cond_broadcast(&o->changed);
        pthread_mutex_unlock(&o->lock);
        pthread_join(o->thread, NULL);
    }
    /* the aligned part directly, the tail (not a whole block) through the page cache */
    const char *buf = o->buf[o->cur];
    size_t aligned = o->direct ? o->len / OUT_ALIGN * OUT_ALIGN : o->len;
    out_write_all(o, buf, aligned);
    if (o->len > aligned && o->direct && o->err == 0)
        drop_direct(o);
    out_write_all(o, buf + aligned, o->len - aligned);
    if (close(o->fd) != 0 && o->err == 0)
        o->err = errno;
    int rc = o->err == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(msg, msglen, "cannot write %s: %s", what, strerror(o->err));
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->changed);
    free(o->buf[0]);
    free(o);
    return rc;
}

bool jw_flush_out(jw_t *w, tl_out_t *o)
{
    bool ok = tl_out_write(o, w->buf, w->len);
    w->len = 0;
    return ok;
}

/* ------------------------------------------------------------------ canonical record */

/* The fields in cf_id order: name and type. One list makes both tables below. */
#define CANON_FIELDS(X) \
    X("loyalty_id", CT_STR) \
    X("as_of", CT_TS) \
    X("first_name", CT_STR) \
    X("last_name", CT_STR) \
    X("email", CT_STR) \
    X("active_status", CT_ACTIVE) \
    X("birthday", CT_DATE) \
    X("anniversary_date", CT_DATE) \
    X("phone", CT_STR) \
    X("zip_code", CT_STR) \
    X("opt_in_status", CT_YESNO) \
    X("opt_in_date", CT_TS) \
    X("opt_out_date", CT_DATE) \
    X("available_points", CT_INT) \
    X("earned_points", CT_INT) \
    X("used_points", CT_INT) \
    X("hold_points", CT_INT) \
    X("next_expiring_points", CT_INT) \
    X("points_expiration_date", CT_DATE) \
    X("expired_points", CT_INT) \
    X("current_tier", CT_STR) \
    X("next_tier", CT_STR) \
    X("points_req_for_next_tier", CT_INT) \
    X("tier_achieve_date", CT_DATE) \
    X("available_rewards", CT_REWARDS) \
    X("points_req_for_next_reward", CT_INT) \
    X("highest_available_reward", CT_STR) \
    X("first_activity_date", CT_DATE) \
    X("last_activity_date", CT_DATE) \
    X("first_purchase_date", CT_DATE) \
    X("last_purchase_date", CT_DATE) \
    X("segments", CT_SEGMENTS)
#define FIELD_DEF(name, type) {name, type},
const cf_def_t tl_fields[CF_COUNT] = {CANON_FIELDS(FIELD_DEF)};
/* Each field's key as JSON text with its colon, and that text's length. */
typedef struct key_text {
    const char *text;
    size_t len;
} key_text_t;
#define FIELD_KEY(name, type) {"\"" name "\":", sizeof(name) + 2},
static const key_text_t field_keys[CF_COUNT] = {CANON_FIELDS(FIELD_KEY)};
/* truth_feed_member skips the size checks when no string is long: that is only right while a
 * contact of short strings stays under Ometria's 60 KB and under Infobip's 255 characters */
#define COUNT_STRING_FIELD(name, type) +((type) == CT_STR || (type) == CT_REWARDS)
enum { STRING_FIELDS = 0 CANON_FIELDS(COUNT_STRING_FIELD) };
_Static_assert(8192 + 18 * STRING_FIELDS * (TL_LONG_STRING - 1) < 60 * 1024, "short strings could exceed Ometria's 60 KB");
_Static_assert(TL_LONG_STRING <= 255, "short strings could exceed Infobip's 255 characters");

void canon_init(canon_t *r)
{
    memset(r, 0, sizeof(*r));
    r->bad_field = -1;
}
void canon_set_str(canon_t *r, int f, const char *s)
{
    r->present |= 1ull << f;
    r->isnull &= ~(1ull << f);
    r->v[f].s = s;
    if (strnlen(s, TL_LONG_STRING) == TL_LONG_STRING)
        r->long_strings |= 1u << f;
    else
        r->long_strings &= ~(1u << f);
}
void canon_set_num(canon_t *r, int f, int64_t n)
{
    r->present |= 1ull << f;
    r->isnull &= ~(1ull << f);
    r->long_strings &= ~(1u << f);
    r->v[f].n = n;
}
void canon_set_null(canon_t *r, int f)
{
    r->present |= 1ull << f;
    r->isnull |= 1ull << f;
    r->long_strings &= ~(1u << f);
    r->v[f].n = 0;
}
void canon_unset(canon_t *r, int f)
{
    r->present &= ~(1ull << f);
    r->isnull &= ~(1ull << f);
    r->long_strings &= ~(1u << f);
}

static const char *seg_names[64];
static int seg_count;

int tl_segment_index(const char *name)
{
    for (int i = 0; i < seg_count; i++)
        if (strcmp(seg_names[i], name) == 0)
            return i;
    if (seg_count == 64)
        return -1;
    seg_names[seg_count] = tl_strdup(name);
    return seg_count++;
}
const char *tl_segment_name(int idx) { return seg_names[idx]; }
int tl_segment_count(void) { return seg_count; }

/* Writes a " | "-joined list as a JSON array of strings. */
static void write_joined_array(jw_t *w, const char *joined)
{
    jw_char(w, '[');
    const char *p = joined;
    bool first = true;
    while (*p) {
        const char *sep = strstr(p, " | ");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        if (n > 511)
            n = 511; /* names are cut into pieces of at most 511 bytes */
        if (!first)
            jw_char(w, ',');
        first = false;
        jw_str_n(w, p, n);
        p += n;
        if (sep)
            p = sep + 3;
    }
    jw_char(w, ']');
}

static void write_segments(jw_t *w, uint64_t segs)
{
    jw_char(w, '[');
    bool first = true;
    for (int i = 0; i < seg_count; i++) {
        if (!((segs >> i) & 1u))
            continue;
        if (!first)
            jw_char(w, ',');
        first = false;
        jw_str(w, seg_names[i]);
    }
    jw_char(w, ']');
}

/* Writes the value of field f of r (present, not bad). */
static void write_field_value(jw_t *w, const canon_t *r, int f)
{
    if (CANON_NULL(r, f)) {
        JW_LIT(w, "null");
        return;
    }
    switch (tl_fields[f].type) {
    case CT_STR:
    case CT_YESNO:
    case CT_ACTIVE: jw_str(w, r->v[f].s); break;
    case CT_TS: jw_ts(w, r->v[f].n); break;
    case CT_DATE: jw_date(w, r->v[f].n); break;
    case CT_INT: jw_int(w, r->v[f].n); break;
    case CT_REWARDS: write_joined_array(w, r->v[f].s); break;
    case CT_SEGMENTS: write_segments(w, r->segs); break;
    }
}

void canon_write(jw_t *w, const canon_t *r)
{
    bool first = false;
    JW_LIT(w, "{\"kind\":\"member\"");
    for (int f = 0; f < CF_COUNT; f++) {
        if (!CANON_HAS(r, f))
            continue;
        jw_key_text(w, &first, field_keys[f].text, field_keys[f].len);
        if (f == r->bad_field)
            jw_lit(w, r->bad_value);
        else
            write_field_value(w, r, f);
    }
    jw_char(w, '}');
}

/* Marks field f of r bad with the raw JSON text of v. Only the first bad field is kept (it names
 * the rejection); later bad fields are left out of the record, which is rejected anyway. */
static void mark_bad(canon_t *r, int f, json_t *v)
{
    if (r->bad_field >= 0)
        return;
    r->present |= 1ull << f;
    char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    r->bad_field = f;
    r->bad_value = tl_strdup(txt ? txt : "null");
    free(txt);
}

int canon_from_json(canon_t *r, const void *json_object, char *msg, size_t msglen)
{
    json_t *obj = (json_t *)json_object;
    canon_init(r);
    if (!json_is_object(obj)) {
        snprintf(msg, msglen, "record is not a JSON object");
        return -1;
    }
    for (int f = 0; f < CF_COUNT; f++) {
        json_t *v = json_object_get(obj, tl_fields[f].name);
        int64_t n;
        if (!v)
            continue;
        if (json_is_null(v)) {
            if (f == CF_LOYALTY_ID || f == CF_AS_OF)
                mark_bad(r, f, v);
            else
                canon_set_null(r, f);
            continue;
        }
        switch (tl_fields[f].type) {
        case CT_STR:
            if (!json_is_string(v))
                mark_bad(r, f, v);
            else
                canon_set_str(r, f, tl_strdup(json_string_value(v)));
            break;
        case CT_YESNO:
        case CT_ACTIVE: {
            const char *a = tl_fields[f].type == CT_YESNO ? "yes" : "active";
            const char *b = tl_fields[f].type == CT_YESNO ? "no" : "inactive";
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, a) != 0 && strcmp(s, b) != 0))
                mark_bad(r, f, v);
            else
                canon_set_str(r, f, strcmp(s, a) == 0 ? a : b);
            break;
        }
        case CT_TS:
            if (!json_is_string(v) || !tl_parse_ts(json_string_value(v), &n))
                mark_bad(r, f, v);
            else
                canon_set_num(r, f, n);
            break;
        case CT_DATE:
            if (!json_is_string(v) || !tl_parse_date(json_string_value(v), &n))
                mark_bad(r, f, v);
            else
                canon_set_num(r, f, n);
            break;
        case CT_INT:
            if (!json_is_integer(v))
                mark_bad(r, f, v);
            else
                canon_set_num(r, f, json_integer_value(v));
            break;
        case CT_REWARDS: {
            jw_t j = {0};
            size_t i;
            json_t *it;
            bool ok = json_is_array(v);
            json_array_foreach(v, i, it) {
                if (!json_is_string(it)) {
                    ok = false;
                    break;
                }
                if (i)
                    JW_LIT(&j, " | ");
                jw_lit(&j, json_string_value(it));
            }
            if (!ok)
                mark_bad(r, f, v);
            else
                canon_set_str(r, f, tl_strndup(j.buf ? j.buf : "", j.len));
            jw_free(&j);
            break;
        }
        case CT_SEGMENTS: {
            size_t i;
            json_t *it;
            uint64_t segs = 0;
            bool ok = json_is_array(v);
            json_array_foreach(v, i, it) {
                int idx = json_is_string(it) ? tl_segment_index(json_string_value(it)) : -1;
                if (idx < 0) {
                    ok = false;
                    break;
                }
                segs |= 1ull << idx;
            }
            if (!ok) {
                mark_bad(r, f, v);
            } else {
                canon_set_num(r, f, 0);
                r->segs = segs;
            }
            break;
        }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ program */

int program_tier_index(const program_t *p, const char *name)
{
    for (int i = 0; i < p->ntiers; i++)
        if (strcmp(p->tier_name[i], name) == 0)
            return i;
    return -1;
}

int program_load(program_t *p, const char *path, char *msg, size_t msglen)
{
    json_error_t err;
    int rc = -1;
    size_t i;
    json_t *it;
    json_t *root = json_load_file(path, 0, &err);
    memset(p, 0, sizeof(*p));
    if (!root) {
        snprintf(msg, msglen, "%s:%d: %s", path, err.line, err.text);
        goto out;
    }
    json_t *tiers = json_object_get(root, "tiers");
    if (!json_is_array(tiers) || json_array_size(tiers) == 0 || json_array_size(tiers) > TL_MAX_TIERS) {
        snprintf(msg, msglen, "%s: \"tiers\" must be an array of 1..%d tiers", path, TL_MAX_TIERS);
        goto out;
    }
    json_array_foreach(tiers, i, it) {
        json_t *nm = json_object_get(it, "name"), *pt = json_object_get(it, "points");
        if (!json_is_string(nm) || !json_is_integer(pt)) {
            snprintf(msg, msglen, "%s: tiers[%zu] needs a string \"name\" and an integer \"points\"", path, i);
            goto out;
        }
        p->tier_name[i] = tl_strdup(json_string_value(nm));
        p->tier_points[i] = json_integer_value(pt);
        p->ntiers++;
    }
    json_t *segs = json_object_get(root, "segments");
    json_array_foreach(segs, i, it) {
        json_t *id = json_object_get(it, "id"), *nm = json_object_get(it, "name");
        if (!json_is_string(id) || !json_is_string(nm) || i >= 63) {
            snprintf(msg, msglen, "%s: segments[%zu] needs string \"id\" and \"name\" (at most 63)", path, i);
            goto out;
        }
        int idx = tl_segment_index(json_string_value(nm));
        if (idx != (int)i) {
            snprintf(msg, msglen, "%s: segments[%zu] \"%s\" registered out of order", path, i, json_string_value(nm));
            goto out;
        }
        p->segment_id[i] = tl_strdup(json_string_value(id));
        p->nsegments++;
    }
    json_t *rewards = json_object_get(root, "rewards");
    json_array_foreach(rewards, i, it) {
        json_t *id = json_object_get(it, "id"), *nm = json_object_get(it, "name"), *pt = json_object_get(it, "points");
        if (!json_is_string(id) || !json_is_string(nm) || !json_is_integer(pt) || i >= TL_MAX_REWARDS) {
            snprintf(msg, msglen, "%s: rewards[%zu] needs string id, name and integer points", path, i);
            goto out;
        }
        p->reward_id[i] = tl_strdup(json_string_value(id));
        p->reward_name[i] = tl_strdup(json_string_value(nm));
        p->reward_points[i] = json_integer_value(pt);
        p->nrewards++;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ engine */

enum ev_type { EV_OPT_IN, EV_OPT_OUT, EV_ACCRUAL, EV_REDEMPTION, EV_UPGRADE, EV_DOWNGRADE, EV_ANNIVERSARY, EV_CLOSE };
const char *const tl_event_types[8] = {"opt_in", "opt_out", "point_accrual", "point_redemption",
                                       "tier_upgrade", "tier_downgrade", "tier_anniversary", "close_to_tier_upgrade"};
static const char *const ometria_event_types[8] = {
    "annex_loy_opt_in", "annex_loy_opt_out", "annex_loy_point_accrual", "Annex_loy_point_redemption",
    "annex_loy_tier_upgrade", "annex_loy_tier_downgrade", "annex_loy_tier_anniversary", "annex_loy_close_to_tier_upgrade"};
static const char *const infobip_definitions[8] = {"LoyOptIn", "LoyOptOut", "LoyPointAccrual", "LoyPointRedemption",
                                                  "LoyTierUpgrade", "LoyTierDowngrade", "LoyTierAnniversary", "LoyCloseToTierUpgrade"};

/* One event: derived (type < 8) or source-delivered (raw != NULL). */
typedef struct tevent {
    char id[33];
    uint8_t type;
    uint8_t has_n3;
    uint32_t member;
    uint64_t seq;
    const char *loyalty_id, *email;
    int64_t occurred;
    int64_t n1, n2, n3; /* points / earned|used / available; years; points_req */
    const char *s1, *s2; /* from/to tier; tier; current/next tier */
    int64_t date;        /* opt_in_date (secs) / opt_out_date / tier_achieve_date (days) */
    json_t *raw;
} tevent_t;

enum { MS_EARNED = 1, MS_USED = 2, MS_PREQ = 4, MS_TAD = 8, MS_OPT = 16, MS_TIER = 32 };

typedef struct tmember {
    const char *loyalty_id, *email;
    int64_t as_of, earned, used, preq;
    int64_t tad, next_anniv; /* days; next_anniv INT64_MAX when none */
    int32_t anniv_done;
    int16_t tier, next_tier; /* ladder indexes; next_tier -1 = none */
    uint8_t has, opt_in, armed, seen; /* seen: a member record was accepted (not only a source event) */
    canon_t *om, *ib; /* merged state accepted by each destination (may be shared) */
    struct ib_contact *ibc; /* Infobip contactInformation: every (type, identifier) sent, first-seen order; */
    uint16_t nibc, capibc;  /* held in ibc_inline while capibc is 0 (use ib_contacts()) */
    struct ib_contact {
        char type; /* 'E' EMAIL or 'P' PHONE (identifier without "+") */
        const char *ident;
    } ibc_inline[2];
} tmember_t;
typedef struct ib_contact ib_contact_t;

/* The member's Infobip contact list (inline or on the heap; the members array moves on growth,
 * so the inline address is never stored). */
static ib_contact_t *ib_contacts(tmember_t *mm) { return mm->capibc ? mm->ibc : mm->ibc_inline; }

/* Merged destination records are allocated from slabs of CANON_SLAB records, freed with the
 * engine (one malloc per slab instead of one or two per member; huge pages where possible). */
#define CANON_SLAB 32768
typedef struct canon_slab {
    struct canon_slab *next;
    size_t used;
    canon_t rec[CANON_SLAB];
} canon_slab_t;

struct truth {
    const program_t *prog;
    truth_opts_t opts;
    char *dir;
    FILE *dlq;
    tmember_t *m;
    size_t nm, capm;
    uint64_t *hash; /* open addressing: (upper 32 bits of the id's hash) << 32 | index+1; 0 = empty */
    size_t hcap;
    struct canon_slab *slabs; /* where the merged destination records live */
    const char *miss_id;      /* the last id member_find did not find (NULL: none), */
    uint64_t miss_hash;       /* its hash and free slot, valid while nm and hcap are */
    size_t miss_slot, miss_nm, miss_hcap; /* still miss_nm and miss_hcap */
    tevent_t *ev;
    size_t nev, capev;
    int64_t clock; /* seconds; INT64_MIN before the first record */
    EVP_MD *sha256; /* fetched once per engine: implicit fetches cost per call */
    uint64_t by_type[8], ndlq;
    jw_t w;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return q;
}

/* The hash table entry of member index i whose id hashes to h. */
static uint64_t hash_entry(uint64_t h, size_t i) { return (h & 0xffffffff00000000ull) | (uint64_t)(i + 1); }

static void hash_rebuild(truth_t *t, size_t cap)
{
    free(t->hash);
    t->hash = calloc(cap, sizeof(*t->hash));
    if (!t->hash) {
        fputs("out of memory\n", stderr);
        abort();
    }
    tl_advise_huge(t->hash, cap * sizeof(*t->hash));
    t->hcap = cap;
    for (size_t i = 0; i < t->nm; i++) {
        uint64_t hv = hash_str(t->m[i].loyalty_id);
        size_t h = hv & (cap - 1);
        while (t->hash[h])
            h = (h + 1) & (cap - 1);
        t->hash[h] = hash_entry(hv, i);
    }
}

/* Grows the member array to hold cap members. */
static void members_grow(truth_t *t, size_t cap)
{
    t->capm = cap;
    t->m = xrealloc(t->m, t->capm * sizeof(*t->m));
    tl_advise_huge(t->m, t->capm * sizeof(*t->m));
}

void truth_reserve(truth_t *t, size_t members)
{
    if (members > t->capm)
        members_grow(t, members);
    size_t cap = t->hcap;
    while (members * 2 >= cap)
        cap *= 2;
    if (cap != t->hcap)
        hash_rebuild(t, cap);
}

static long member_insert(truth_t *t, const char *id, uint64_t hv, size_t h);

/* Finds the member slot of id; creates it when create. Returns the index or -1.
 * A failed lookup is remembered, so creating the same id right after it (nothing inserted
 * in between) does not hash and probe again. */
static long member_find(truth_t *t, const char *id, bool create)
{
    if (create && id == t->miss_id && t->miss_nm == t->nm && t->miss_hcap == t->hcap)
        return member_insert(t, id, t->miss_hash, t->miss_slot);
    const uint64_t hv = hash_str(id), tag = hv & 0xffffffff00000000ull;
    size_t h = hv & (t->hcap - 1);
    while (t->hash[h]) {
        size_t i = (size_t)(t->hash[h] & 0xffffffffu) - 1;
        if ((t->hash[h] & 0xffffffff00000000ull) == tag && strcmp(t->m[i].loyalty_id, id) == 0)
            return (long)i;
        h = (h + 1) & (t->hcap - 1);
    }
    if (!create) {
        t->miss_id = id;
        t->miss_hash = hv;
        t->miss_slot = h;
        t->miss_nm = t->nm;
        t->miss_hcap = t->hcap;
        return -1;
    }
    return member_insert(t, id, hv, h);
}

/* Adds member id (hash hv) at free hash slot h. Returns its index. */
static long member_insert(truth_t *t, const char *id, uint64_t hv, size_t h)
{
    t->miss_id = NULL;
    if (t->nm == t->capm)
        members_grow(t, t->capm ? t->capm * 2 : 1024);
    tmember_t *mm = &t->m[t->nm];
    memset(mm, 0, sizeof(*mm));
    mm->loyalty_id = id;
    mm->tier = mm->next_tier = -1;
    mm->next_anniv = INT64_MAX;
    t->hash[h] = hash_entry(hv, t->nm);
    t->nm++;
    if (t->nm * 2 > t->hcap)
        hash_rebuild(t, t->hcap * 2);
    return (long)(t->nm - 1);
}

truth_t *truth_create(const char *out_dir, const program_t *program, const truth_opts_t *opts, char *msg, size_t msglen)
{
    truth_t *t = calloc(1, sizeof(*t));
    char path[4096];
    if (!t)
        return NULL;
    t->prog = program;
    t->opts = *opts;
    if (!t->opts.collection)
        t->opts.collection = "annex_loyalty";
    t->clock = INT64_MIN;
    t->dir = strdup(out_dir);
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        snprintf(msg, msglen, "cannot create %s: %s", out_dir, strerror(errno));
        goto fail;
    }
    t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!t->sha256) {
        snprintf(msg, msglen, "OpenSSL has no SHA256");
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/dlq.jsonl", out_dir);
    t->dlq = fopen(path, "w");
    if (!t->dlq) {
        snprintf(msg, msglen, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    hash_rebuild(t, 1024);
    return t;
fail:
    truth_destroy(&t);
    return NULL;
}

void truth_destroy(truth_t **tp)
{
    truth_t *t = *tp;
    if (!t)
        return;
    if (t->dlq)
        fclose(t->dlq);
    for (size_t i = 0; i < t->nm; i++)
        if (t->m[i].capibc)
            free(t->m[i].ibc);
    while (t->slabs) {
        struct canon_slab *next = t->slabs->next;
        free(t->slabs);
        t->slabs = next;
    }
    for (size_t i = 0; i < t->nev; i++)
        json_decref(t->ev[i].raw);
    free(t->m);
    free(t->hash);
    free(t->ev);
    free(t->dir);
    EVP_MD_free(t->sha256);
    jw_free(&t->w);
    free(t);
    *tp = NULL;
}

void truth_counts(const truth_t *t, uint64_t by_type[8], uint64_t *dlq)
{
    memcpy(by_type, t->by_type, sizeof(t->by_type));
    *dlq = t->ndlq;
}

static void dlq_line(truth_t *t, const char *id, const char *dest, const char *field, const char *stage)
{
    jw_t *w = &t->w;
    jw_reset(w);
    JW_LIT(w, "{\"loyalty_id\":");
    jw_str(w, id ? id : "");
    JW_LIT(w, ",\"destination\":");
    jw_str(w, dest);
    JW_LIT(w, ",\"field\":");
    jw_str(w, field);
    JW_LIT(w, ",\"stage\":");
    jw_str(w, stage);
    JW_LIT(w, "}\n");
    jw_flush_to(w, t->dlq);
    t->ndlq++;
}

static void event_id(EVP_MD *sha256, const char *lid, const char *type, const char *disc, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s|%s|%s", lid, type, disc);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        /* an id longer than the buffer: hash it from the heap */
        jw_t w = {0};
        jw_lit(&w, lid);
        jw_char(&w, '|');
        jw_lit(&w, type);
        jw_char(&w, '|');
        jw_lit(&w, disc);
        EVP_Digest(w.buf, w.len, md, &mdlen, sha256, NULL);
        jw_free(&w);
    } else {
        EVP_Digest(buf, (size_t)n, md, &mdlen, sha256, NULL);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = 0;
}

static tevent_t *event_push(truth_t *t, size_t mi, int type, const char *disc, int64_t occurred)
{
    if (t->nev == t->capev) {
        t->capev = t->capev ? t->capev * 2 : 4096;
        t->ev = xrealloc(t->ev, t->capev * sizeof(*t->ev));
        tl_advise_huge(t->ev, t->capev * sizeof(*t->ev));
    }
    tevent_t *e = &t->ev[t->nev];
    memset(e, 0, sizeof(*e));
    e->type = (uint8_t)type;
    e->member = (uint32_t)mi;
    e->seq = t->nev++;
    e->loyalty_id = t->m[mi].loyalty_id;
    e->email = t->m[mi].email;
    e->occurred = occurred;
    event_id(t->sha256, e->loyalty_id, tl_event_types[type], disc, e->id);
    t->by_type[type]++;
    return e;
}

/* Number of anniversaries of tad on or before day. */
static int32_t anniversaries_until(int64_t tad, int64_t day)
{
    int32_t n = 0;
    while (tl_add_years(tad, n + 1) <= day)
        n++;
    return n;
}

static void set_next_anniv(tmember_t *mm)
{
    mm->next_anniv = ((mm->has & MS_TAD) && mm->tier >= 0) ? tl_add_years(mm->tad, mm->anniv_done + 1) : INT64_MAX;
}

/* Clock sweep (rule 3): fires every stored member's anniversaries up to day. */
static void sweep(truth_t *t, int64_t day)
{
    char disc[256], d10[11];
    for (size_t i = 0; i < t->nm; i++) {
        tmember_t *mm = &t->m[i];
        while (mm->next_anniv <= day) {
            int years = mm->anniv_done + 1;
            tl_fmt_date(mm->tad, d10);
            snprintf(disc, sizeof(disc), "%s:%s:%d", t->prog->tier_name[mm->tier], d10, years);
            tevent_t *e = event_push(t, i, EV_ANNIVERSARY, disc, mm->next_anniv * 86400);
            e->s1 = t->prog->tier_name[mm->tier];
            e->date = mm->tad;
            e->n1 = years;
            mm->anniv_done = years;
            set_next_anniv(mm);
        }
    }
}

/* Close-to-upgrade threshold for a record whose next tier is next_idx (-1 unknown). */
static int64_t close_threshold(const truth_t *t, int next_idx)
{
    if (!t->opts.close_percent)
        return t->opts.close_threshold;
    if (next_idx < 0)
        return -1;
    return t->prog->tier_points[next_idx] * t->opts.close_threshold / 100;
}

/* Validation (rule 1): returns the first bad field or -1. */
static int first_invalid(const truth_t *t, const canon_t *r)
{
    if (!CANON_HAS(r, CF_LOYALTY_ID) || (r->bad_field == CF_LOYALTY_ID))
        return CF_LOYALTY_ID;
    if (!CANON_HAS(r, CF_AS_OF) && r->bad_field != CF_AS_OF)
        return CF_AS_OF;
    for (int f = 0; f < CF_COUNT; f++) {
        if (!CANON_HAS(r, f))
            continue;
        if (f == r->bad_field)
            return f;
        if (CANON_NULL(r, f))
            continue;
        if (tl_fields[f].type == CT_INT && r->v[f].n < 0)
            return f;
        if (f == CF_CURRENT_TIER && program_tier_index(t->prog, r->v[f].s) < 0)
            return f;
    }
    return -1;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* ---- destination mappings ---- */
enum conv { CV_STR, CV_INT_AS_STR, CV_INT, CV_DATE, CV_TS_DATE, CV_JOINED };
typedef struct map_row {
    const char *dest;
    const char *key; /* dest as JSON text with its colon */
    size_t keylen;
    int field;
    enum conv conv;
} map_row_t;
#define MAP_ROW(dest, field, conv) {dest, "\"" dest "\":", sizeof(dest) + 2, field, conv}

static const map_row_t ometria_props[] = {
    MAP_ROW("annex_loyalty_id", CF_LOYALTY_ID, CV_STR),
    MAP_ROW("annex_active_status", CF_ACTIVE_STATUS, CV_STR),
    MAP_ROW("annex_user_opt_in_status", CF_OPT_IN_STATUS, CV_STR),
    MAP_ROW("annex_opt_in_date", CF_OPT_IN_DATE, CV_TS_DATE),
    MAP_ROW("annex_opt_out_date", CF_OPT_OUT_DATE, CV_DATE),
    MAP_ROW("annex_loyalty_anniversary_date", CF_ANNIVERSARY_DATE, CV_DATE),
    MAP_ROW("annex_available_points", CF_AVAILABLE_POINTS, CV_INT_AS_STR),
    MAP_ROW("annex_earned_points", CF_EARNED_POINTS, CV_INT_AS_STR),
    MAP_ROW("annex_used_points", CF_USED_POINTS, CV_INT),
    MAP_ROW("annex_hold_points", CF_HOLD_POINTS, CV_INT),
    MAP_ROW("annex_next_expiring_points", CF_NEXT_EXPIRING_POINTS, CV_INT),
    MAP_ROW("annex_points_expiration_date", CF_POINTS_EXPIRATION_DATE, CV_DATE),
    MAP_ROW("annex_expired_points", CF_EXPIRED_POINTS, CV_INT),
    MAP_ROW("annex_current_tier", CF_CURRENT_TIER, CV_STR),
    MAP_ROW("annex_next_tier", CF_NEXT_TIER, CV_STR),
    MAP_ROW("annex_points_req_for_next_tier", CF_POINTS_REQ_FOR_NEXT_TIER, CV_INT),
    MAP_ROW("annex_tier_achieve_date", CF_TIER_ACHIEVE_DATE, CV_DATE),
    MAP_ROW("annex_available_rewards1", CF_AVAILABLE_REWARDS, CV_JOINED),
    MAP_ROW("annex_points_req_for_next_reward", CF_POINTS_REQ_FOR_NEXT_REWARD, CV_INT),
    MAP_ROW("annex_highest_available_reward1", CF_HIGHEST_AVAILABLE_REWARD, CV_STR),
    MAP_ROW("annex_first_activity", CF_FIRST_ACTIVITY_DATE, CV_DATE),
    MAP_ROW("annex_last_activity_date", CF_LAST_ACTIVITY_DATE, CV_DATE),
    MAP_ROW("annex_first_purchase_date", CF_FIRST_PURCHASE_DATE, CV_DATE),
    MAP_ROW("annex_last_purchase_date", CF_LAST_PURCHASE_DATE, CV_DATE),
    MAP_ROW("annex_zip_code", CF_ZIP_CODE, CV_STR),
};
static const map_row_t infobip_attrs[] = {
    MAP_ROW("annexLoyaltyId", CF_LOYALTY_ID, CV_STR),
    MAP_ROW("annexActiveStatus", CF_ACTIVE_STATUS, CV_STR),
    MAP_ROW("annexOptInStatus", CF_OPT_IN_STATUS, CV_STR),
    MAP_ROW("annexOptInDate", CF_OPT_IN_DATE, CV_TS_DATE),
    MAP_ROW("annexOptOutDate", CF_OPT_OUT_DATE, CV_DATE),
    MAP_ROW("annexAnniversaryDate", CF_ANNIVERSARY_DATE, CV_DATE),
    MAP_ROW("annexAvailablePoints", CF_AVAILABLE_POINTS, CV_INT),
    MAP_ROW("annexEarnedPoints", CF_EARNED_POINTS, CV_INT),
    MAP_ROW("annexUsedPoints", CF_USED_POINTS, CV_INT),
    MAP_ROW("annexHoldPoints", CF_HOLD_POINTS, CV_INT),
    MAP_ROW("annexNextExpiringPoints", CF_NEXT_EXPIRING_POINTS, CV_INT),
    MAP_ROW("annexPointsExpirationDate", CF_POINTS_EXPIRATION_DATE, CV_DATE),
    MAP_ROW("annexExpiredPoints", CF_EXPIRED_POINTS, CV_INT),
    MAP_ROW("annexCurrentTier", CF_CURRENT_TIER, CV_STR),
    MAP_ROW("annexNextTier", CF_NEXT_TIER, CV_STR),
    MAP_ROW("annexPointsReqForNextTier", CF_POINTS_REQ_FOR_NEXT_TIER, CV_INT),
    MAP_ROW("annexTierAchieveDate", CF_TIER_ACHIEVE_DATE, CV_DATE),
    MAP_ROW("annexAvailableRewards", CF_AVAILABLE_REWARDS, CV_JOINED),
    MAP_ROW("annexPointsReqForNextReward", CF_POINTS_REQ_FOR_NEXT_REWARD, CV_INT),
    MAP_ROW("annexHighestAvailableReward", CF_HIGHEST_AVAILABLE_REWARD, CV_STR),
    MAP_ROW("annexFirstActivityDate", CF_FIRST_ACTIVITY_DATE, CV_DATE),
    MAP_ROW("annexLastActivityDate", CF_LAST_ACTIVITY_DATE, CV_DATE),
    MAP_ROW("annexFirstPurchaseDate", CF_FIRST_PURCHASE_DATE, CV_DATE),
    MAP_ROW("annexLastPurchaseDate", CF_LAST_PURCHASE_DATE, CV_DATE),
    MAP_ROW("annexZipCode", CF_ZIP_CODE, CV_STR),
};
#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static void write_mapped(jw_t *w, const canon_t *r, const map_row_t *row)
{
    const int f = row->field;
    if (CANON_NULL(r, f)) {
        JW_LIT(w, "null");
        return;
    }
    switch (row->conv) {
    case CV_STR:
    case CV_JOINED: jw_str(w, r->v[f].s); break;
    case CV_INT: jw_int(w, r->v[f].n); break;
    case CV_INT_AS_STR:
        jw_char(w, '"');
        jw_int(w, r->v[f].n);
        jw_char(w, '"');
        break;
    case CV_DATE: jw_date(w, r->v[f].n); break;
    case CV_TS_DATE: jw_date(w, r->v[f].n / 86400); break;
    }
}

/* Writes "key":value for field f of r when present (key: JSON text with colon, len bytes). */
static void write_plain_field(jw_t *w, bool *first, const char *key, size_t len, const canon_t *r, int f)
{
    if (!CANON_HAS(r, f))
        return;
    jw_key_text(w, first, key, len);
    write_field_value(w, r, f);
}
#define WRITE_PLAIN_FIELD(w, first, lit, r, f) write_plain_field((w), (first), "\"" lit "\":", sizeof(lit) + 2, (r), (f))

/* An Infobip name (clarification 16): the characters Infobip forbids in
 * names (& < > " / \\ : ( ) { } = ; #) and control characters become
 * spaces, runs of spaces one, the ends trimmed. Writes "key":value when
 * field f of r is present (null as null). Aborts on OOM. */
static void write_infobip_name(jw_t *w, bool *first, const char *key, size_t len, const canon_t *r, int f)
{
    if (!CANON_HAS(r, f))
        return;
    jw_key_text(w, first, key, len);
    if (CANON_NULL(r, f)) {
        JW_LIT(w, "null");
        return;
    }
    const char *in = r->v[f].s;
    char *out = xrealloc(NULL, strlen(in) + 1), *o = out;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        char k = c < 0x20 || c == 0x7F || strchr("&<>\"/\\:(){}=;#", c) ? ' ' : (char)c;
        if (k == ' ' && (o == out || o[-1] == ' '))
            continue;
        *o++ = k;
    }
    if (o > out && o[-1] == ' ')
        o--;
    *o = '\0';
    jw_str(w, out);
    free(out);
}
#define WRITE_INFOBIP_NAME(w, first, lit, r, f) write_infobip_name((w), (first), "\"" lit "\":", sizeof(lit) + 2, (r), (f))

/* Ometria contact for record r; wire adds @type/@collection/@add_to_lists/@remove_from_lists. */
static void write_ometria_contact(const truth_t *t, jw_t *w, const canon_t *r, bool wire)
{
    bool first = true;
    jw_char(w, '{');
    if (wire) {
        JW_KEY(w, &first, "@type");
        jw_str(w, "contact");
        JW_KEY(w, &first, "@merge"); /* ometria-sink sends it on every contact */
        JW_LIT(w, "true");
    }
    JW_KEY(w, &first, "@collection");
    jw_str(w, t->opts.collection);
    JW_KEY(w, &first, "id");
    jw_str(w, r->v[CF_LOYALTY_ID].s);
    JW_KEY(w, &first, "customer_id");
    jw_str(w, r->v[CF_LOYALTY_ID].s);
    WRITE_PLAIN_FIELD(w, &first, "email", r, CF_EMAIL);
    WRITE_PLAIN_FIELD(w, &first, "firstname", r, CF_FIRST_NAME);
    WRITE_PLAIN_FIELD(w, &first, "lastname", r, CF_LAST_NAME);
    WRITE_PLAIN_FIELD(w, &first, "date_of_birth", r, CF_BIRTHDAY);
    WRITE_PLAIN_FIELD(w, &first, "phone_number", r, CF_PHONE);
    if (wire) {
        for (int pass = 0; pass < 2; pass++) {
            bool lfirst = true;
            if (pass == 0)
                JW_KEY(w, &first, "@add_to_lists");
            else
                JW_KEY(w, &first, "@remove_from_lists");
            jw_char(w, '[');
            if (CANON_HAS(r, CF_OPT_IN_STATUS) && !CANON_NULL(r, CF_OPT_IN_STATUS)) {
                bool in = strcmp(r->v[CF_OPT_IN_STATUS].s, "yes") == 0;
                if (in == (pass == 0)) {
                    JW_LIT(w, "1001");
                    lfirst = false;
                }
            }
            if (CANON_HAS(r, CF_SEGMENTS)) {
                for (int i = 0; i < t->prog->nsegments; i++) {
                    bool in = !CANON_NULL(r, CF_SEGMENTS) && ((r->segs >> i) & 1u);
                    if (in != (pass == 0))
                        continue;
                    if (!lfirst)
                        jw_char(w, ',');
                    lfirst = false;
                    jw_int(w, 1002 + i);
                }
            }
            jw_char(w, ']');
        }
    }
    JW_KEY(w, &first, "properties");
    jw_char(w, '{');
    bool pfirst = true;
    for (size_t i = 0; i < NROWS(ometria_props); i++) {
        if (!CANON_HAS(r, ometria_props[i].field))
            continue;
        jw_key_text(w, &pfirst, ometria_props[i].key, ometria_props[i].keylen);
        write_mapped(w, r, &ometria_props[i]);
    }
    JW_LIT(w, "}}");
}

/* Destination tag/list names the merged record belongs to: bit 0 Loyalty, bit i+1 segment i. */
static uint64_t memberships(const truth_t *t, const canon_t *r)
{
    uint64_t bits = 0;
    if (CANON_HAS(r, CF_OPT_IN_STATUS) && !CANON_NULL(r, CF_OPT_IN_STATUS) && strcmp(r->v[CF_OPT_IN_STATUS].s, "yes") == 0)
        bits |= 1;
    if (CANON_HAS(r, CF_SEGMENTS) && !CANON_NULL(r, CF_SEGMENTS))
        bits |= (r->segs & ((t->prog->nsegments >= 64) ? ~0ull : ((1ull << t->prog->nsegments) - 1))) << 1;
    return bits;
}

static void write_infobip_person(const truth_t *t, jw_t *w, const tmember_t *mm)
{
    const canon_t *r = mm->ib;
    bool first = true;
    jw_char(w, '{');
    JW_KEY(w, &first, "externalId");
    jw_str(w, r->v[CF_LOYALTY_ID].s);
    WRITE_INFOBIP_NAME(w, &first, "firstName", r, CF_FIRST_NAME);
    WRITE_INFOBIP_NAME(w, &first, "lastName", r, CF_LAST_NAME);
    WRITE_PLAIN_FIELD(w, &first, "birthDate", r, CF_BIRTHDAY);
    if (mm->nibc) {
        JW_KEY(w, &first, "contactInformation");
        jw_char(w, '[');
        const ib_contact_t *list = ib_contacts((tmember_t *)mm);
        for (uint16_t i = 0; i < mm->nibc; i++) {
            jw_lit(w, i ? ",{\"type\":" : "{\"type\":");
            jw_str(w, list[i].type == 'E' ? "EMAIL" : "PHONE");
            JW_LIT(w, ",\"identifier\":");
            jw_str(w, list[i].ident);
            JW_LIT(w, ",\"primary\":true}");
        }
        jw_char(w, ']');
    }
    /* tags sorted by byte order, as the emulator reports them */
    uint64_t bits = memberships(t, r);
    const char *names[65];
    int n = 0;
    if (bits & 1)
        names[n++] = "Loyalty";
    for (int i = 0; i < t->prog->nsegments; i++)
        if ((bits >> (i + 1)) & 1u)
            names[n++] = tl_segment_name(i);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *tmp = names[j];
            names[j] = names[j - 1];
            names[j - 1] = tmp;
        }
    JW_KEY(w, &first, "tags");
    jw_char(w, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            jw_char(w, ',');
        jw_str(w, names[i]);
    }
    jw_char(w, ']');
    JW_KEY(w, &first, "customAttributes");
    jw_char(w, '{');
    bool afirst = true;
    for (size_t i = 0; i < NROWS(infobip_attrs); i++) {
        if (!CANON_HAS(r, infobip_attrs[i].field))
            continue;
        jw_key_text(w, &afirst, infobip_attrs[i].key, infobip_attrs[i].keylen);
        write_mapped(w, r, &infobip_attrs[i]);
    }
    JW_LIT(w, "}}");
}

/* True when s (len bytes) has more than limit UTF-8 characters (never more characters than bytes,
 * so short strings are not counted). */
static bool utf8_longer_than(const char *s, size_t len, size_t limit) { return len > limit && utf8_chars(s) > limit; }

/* Byte lengths of the string-valued fields of r that are present and not null (0 otherwise). */
static void string_lengths(const canon_t *r, size_t len[CF_COUNT])
{
    for (int f = 0; f < CF_COUNT; f++) {
        enum cf_type ty = tl_fields[f].type;
        bool is_string = ty == CT_STR || ty == CT_REWARDS || ty == CT_YESNO || ty == CT_ACTIVE;
        len[f] = is_string && CANON_HAS(r, f) && !CANON_NULL(r, f) && f != r->bad_field ? strlen(r->v[f].s) : 0;
    }
}

/* Infobip-sink rejection: the first field over Infobip's limits, or -1. len: string_lengths(r). */
static int infobip_violation(const canon_t *r, const size_t len[CF_COUNT])
{
    if (utf8_longer_than(r->v[CF_LOYALTY_ID].s, len[CF_LOYALTY_ID], 256))
        return CF_LOYALTY_ID;
    for (int f = CF_FIRST_NAME; f <= CF_LAST_NAME; f++)
        if (CANON_HAS(r, f) && !CANON_NULL(r, f) && utf8_longer_than(r->v[f].s, len[f], 255))
            return f;
    for (size_t i = 0; i < NROWS(infobip_attrs); i++) {
        int f = infobip_attrs[i].field;
        enum conv c = infobip_attrs[i].conv;
        if ((c == CV_STR || c == CV_JOINED) && CANON_HAS(r, f) && !CANON_NULL(r, f) && utf8_longer_than(r->v[f].s, len[f], 4096))
            return f;
    }
    return -1;
}

/* A new, uninitialised record owned by t. Aborts on OOM. */
static canon_t *canon_new(truth_t *t)
{
    if (!t->slabs || t->slabs->used == CANON_SLAB) {
        canon_slab_t *s = xrealloc(NULL, sizeof(*s));
        tl_advise_huge(s, sizeof(*s));
        s->next = t->slabs;
        s->used = 0;
        t->slabs = s;
    }
    return &t->slabs->rec[t->slabs->used++];
}

/* Merges the present fields of r into *dst (allocating it from t's slabs on first use). */
static void merge_into(truth_t *t, canon_t **dst, const canon_t *r)
{
    if (!*dst) {
        *dst = canon_new(t);
        canon_init(*dst);
    }
    canon_t *d = *dst;
    if ((r->present & ((1ull << CF_COUNT) - 1)) == ((1ull << CF_COUNT) - 1) && r->bad_field < 0) {
        *d = *r;
        return;
    }
    for (int f = 0; f < CF_COUNT; f++) {
        if (!CANON_HAS(r, f))
            continue;
        d->present |= 1ull << f;
        d->isnull = (d->isnull & ~(1ull << f)) | (r->isnull & (1ull << f));
        d->v[f] = r->v[f];
        d->long_strings = (d->long_strings & ~(1u << f)) | (r->long_strings & (1u << f));
        if (f == CF_SEGMENTS)
            d->segs = r->segs;
    }
}

/* Adds (type, identifier) to the member's Infobip contacts unless present: PATCH merges contact
 * entries by type and identifier, so an old phone stays next to a new one. */
static void note_ib_contact(tmember_t *mm, char type, const char *ident)
{
    if (type == 'P' && ident[0] == '+')
        ident++;
    ib_contact_t *list = ib_contacts(mm);
    for (uint16_t i = 0; i < mm->nibc; i++)
        if (list[i].type == type && strcmp(list[i].ident, ident) == 0)
            return;
    if (mm->capibc == 0 && mm->nibc == 2) {
        /* the inline pair is full: move to the heap */
        mm->capibc = 4;
        mm->ibc = xrealloc(NULL, mm->capibc * sizeof(*mm->ibc));
        memcpy(mm->ibc, mm->ibc_inline, sizeof(mm->ibc_inline));
    } else if (mm->capibc && mm->nibc == mm->capibc) {
        mm->capibc = (uint16_t)(mm->capibc * 2);
        mm->ibc = xrealloc(mm->ibc, mm->capibc * sizeof(*mm->ibc));
    }
    list = ib_contacts(mm);
    list[mm->nibc].type = type;
    list[mm->nibc].ident = ident;
    mm->nibc++;
}

/* Applies r to the destination states according to which destinations accepted it. */
static void apply_destinations(truth_t *t, tmember_t *mm, const canon_t *r, bool om_ok, bool ib_ok)
{
    if (ib_ok) {
        if (CANON_HAS(r, CF_EMAIL) && !CANON_NULL(r, CF_EMAIL) && *r->v[CF_EMAIL].s)
            note_ib_contact(mm, 'E', r->v[CF_EMAIL].s);
        if (CANON_HAS(r, CF_PHONE) && !CANON_NULL(r, CF_PHONE) && *r->v[CF_PHONE].s)
            note_ib_contact(mm, 'P', r->v[CF_PHONE].s);
    }
    if (om_ok && ib_ok && mm->om == mm->ib) {
        merge_into(t, &mm->om, r);
        mm->ib = mm->om;
        return;
    }
    if (mm->om && mm->om == mm->ib && om_ok != ib_ok) {
        /* the destinations diverge: give infobip its own copy */
        canon_t *copy = canon_new(t);
        *copy = *mm->om;
        mm->ib = copy;
    }
    if (om_ok)
        merge_into(t, &mm->om, r);
    if (ib_ok)
        merge_into(t, &mm->ib, r);
}

void truth_feed_member(truth_t *t, const canon_t *r)
{
    char disc[512], d10[11], ts[21];
    const char *lid = CANON_HAS(r, CF_LOYALTY_ID) && !CANON_NULL(r, CF_LOYALTY_ID) && r->bad_field != CF_LOYALTY_ID
                          ? r->v[CF_LOYALTY_ID].s
                          : "";
    int bad = first_invalid(t, r);
    if (bad >= 0) {
        dlq_line(t, lid, "any", tl_fields[bad].name, "tier-event-deriver");
        return;
    }
    long idx = member_find(t, lid, false);
    const int64_t as_of = r->v[CF_AS_OF].n;
    if (idx >= 0 && as_of < t->m[idx].as_of)
        return; /* stale (rule 2): dropped, derives nothing */
    /* clock sweep (rule 3) */
    int64_t day = as_of / 86400;
    if (t->clock == INT64_MIN || day > t->clock / 86400)
        sweep(t, day);
    if (t->clock == INT64_MIN || as_of > t->clock)
        t->clock = as_of;
    const int64_t clock_day = t->clock / 86400;
    bool first_sight = idx < 0 || !t->m[idx].seen;
    if (idx < 0)
        idx = member_find(t, lid, true);
    tmember_t *mm = &t->m[idx];
    mm->seen = 1;
    const size_t mi = (size_t)idx;
    if (CANON_HAS(r, CF_EMAIL) && !CANON_NULL(r, CF_EMAIL))
        mm->email = r->v[CF_EMAIL].s;
    mm->as_of = as_of;

    /* rule 5: opt-in / opt-out */
    if (CANON_HAS(r, CF_OPT_IN_STATUS) && !CANON_NULL(r, CF_OPT_IN_STATUS)) {
        uint8_t in = strcmp(r->v[CF_OPT_IN_STATUS].s, "yes") == 0;
        bool known = (mm->has & MS_OPT) != 0;
        if (in && (first_sight || !known || !mm->opt_in)) {
            int64_t when = CANON_HAS(r, CF_OPT_IN_DATE) && !CANON_NULL(r, CF_OPT_IN_DATE) ? r->v[CF_OPT_IN_DATE].n : as_of;
            tl_fmt_ts(when, ts);
            tevent_t *e = event_push(t, mi, EV_OPT_IN, ts, when);
            e->date = when;
        } else if (!in && !first_sight && known && mm->opt_in) {
            int64_t d = CANON_HAS(r, CF_OPT_OUT_DATE) && !CANON_NULL(r, CF_OPT_OUT_DATE) ? r->v[CF_OPT_OUT_DATE].n : as_of / 86400;
            tl_fmt_date(d, d10);
            tevent_t *e = event_push(t, mi, EV_OPT_OUT, d10, d * 86400);
            e->date = d;
        }
        mm->opt_in = in;
        mm->has |= MS_OPT;
    }
    /* rule 6: points */
    const bool has_avail = CANON_HAS(r, CF_AVAILABLE_POINTS) && !CANON_NULL(r, CF_AVAILABLE_POINTS);
    if (CANON_HAS(r, CF_EARNED_POINTS) && !CANON_NULL(r, CF_EARNED_POINTS)) {
        int64_t nv = r->v[CF_EARNED_POINTS].n;
        if (!first_sight && (mm->has & MS_EARNED) && nv > mm->earned) {
            snprintf(disc, sizeof(disc), "earned:%" PRId64 ":%" PRId64, mm->earned, nv);
            tevent_t *e = event_push(t, mi, EV_ACCRUAL, disc, as_of);
            e->n1 = nv - mm->earned;
            e->n2 = nv;
            e->n3 = has_avail ? r->v[CF_AVAILABLE_POINTS].n : 0;
            e->has_n3 = has_avail;
        }
        mm->earned = nv;
        mm->has |= MS_EARNED;
    }
    if (CANON_HAS(r, CF_USED_POINTS) && !CANON_NULL(r, CF_USED_POINTS)) {
        int64_t nv = r->v[CF_USED_POINTS].n;
        if (!first_sight && (mm->has & MS_USED) && nv > mm->used) {
            snprintf(disc, sizeof(disc), "used:%" PRId64 ":%" PRId64, mm->used, nv);
            tevent_t *e = event_push(t, mi, EV_REDEMPTION, disc, as_of);
            e->n1 = nv - mm->used;
            e->n2 = nv;
            e->n3 = has_avail ? r->v[CF_AVAILABLE_POINTS].n : 0;
            e->has_n3 = has_avail;
        }
        mm->used = nv;
        mm->has |= MS_USED;
    }
    /* rule 7: tiers */
    bool tier_changed = false;
    int new_tier = mm->tier;
    int64_t new_tad = mm->tad;
    bool has_tad = (mm->has & MS_TAD) != 0;
    if (CANON_HAS(r, CF_CURRENT_TIER) && !CANON_NULL(r, CF_CURRENT_TIER))
        new_tier = program_tier_index(t->prog, r->v[CF_CURRENT_TIER].s);
    if (CANON_HAS(r, CF_TIER_ACHIEVE_DATE) && !CANON_NULL(r, CF_TIER_ACHIEVE_DATE)) {
        new_tad = r->v[CF_TIER_ACHIEVE_DATE].n;
        has_tad = true;
    }
    if (!first_sight && mm->tier >= 0 && new_tier != mm->tier) {
        const char *from = t->prog->tier_name[mm->tier], *to = t->prog->tier_name[new_tier];
        int type = new_tier > mm->tier ? EV_UPGRADE : EV_DOWNGRADE;
        int64_t tad_day = has_tad ? new_tad : as_of / 86400;
        tl_fmt_date(tad_day, d10);
        snprintf(disc, sizeof(disc), "%s:%s:%s", from, to, d10);
        tevent_t *e = event_push(t, mi, type, disc, tad_day * 86400);
        e->s1 = from;
        e->s2 = to;
        e->date = tad_day;
        tier_changed = true;
    }
    bool tad_changed = has_tad && (!(mm->has & MS_TAD) || new_tad != mm->tad);
    mm->tier = (int16_t)new_tier;
    if (new_tier >= 0)
        mm->has |= MS_TIER;
    if (has_tad) {
        mm->tad = new_tad;
        mm->has |= MS_TAD;
    }
    if (first_sight || tier_changed || tad_changed) {
        /* anniversaries already passed are counted as done, not fired (rules 4 and 7) */
        mm->anniv_done = (mm->has & MS_TAD) ? anniversaries_until(mm->tad, clock_day) : 0;
        set_next_anniv(mm);
    }
    /* rule 8: close to upgrade */
    if (CANON_HAS(r, CF_NEXT_TIER)) {
        mm->next_tier = CANON_NULL(r, CF_NEXT_TIER) ? -1 : (int16_t)program_tier_index(t->prog, r->v[CF_NEXT_TIER].s);
        if (!CANON_NULL(r, CF_NEXT_TIER) && mm->next_tier < 0 && mm->tier >= 0 && mm->tier + 1 < t->prog->ntiers)
            mm->next_tier = (int16_t)(mm->tier + 1);
    }
    if (first_sight || tier_changed)
        mm->armed = 1;
    if (CANON_HAS(r, CF_POINTS_REQ_FOR_NEXT_TIER) && !CANON_NULL(r, CF_POINTS_REQ_FOR_NEXT_TIER)) {
        int64_t preq = r->v[CF_POINTS_REQ_FOR_NEXT_TIER].n;
        bool has_next = CANON_HAS(r, CF_NEXT_TIER) ? !CANON_NULL(r, CF_NEXT_TIER) : mm->next_tier >= 0;
        int64_t thr = close_threshold(t, mm->next_tier);
        mm->preq = preq;
        mm->has |= MS_PREQ;
        if (thr >= 0 && preq > thr)
            mm->armed = 1;
        else if (thr >= 0 && mm->armed && preq > 0 && has_next && mm->tier >= 0) {
            const char *cur = t->prog->tier_name[mm->tier];
            const char *next = CANON_HAS(r, CF_NEXT_TIER) ? r->v[CF_NEXT_TIER].s : t->prog->tier_name[mm->next_tier];
            tl_fmt_date(as_of / 86400, d10);
            snprintf(disc, sizeof(disc), "%s:%s:%s", cur, next, d10);
            tevent_t *e = event_push(t, mi, EV_CLOSE, disc, as_of);
            e->s1 = cur;
            e->s2 = next;
            e->n1 = preq;
            mm->armed = 0;
        }
    }

    /* destinations: field-mapper (ometria: needs an email), ometria-sink 60 KB, infobip-sink limits */
    bool om_ok = true, ib_ok = true;
    /* with every string under TL_LONG_STRING bytes a contact is under 8 KB + 18 x
     * STRING_FIELDS x 199 bytes < 60 KB and no Infobip limit (255 characters and up) is
     * reached (both asserted at compile time): the strings need not be read (they are
     * cold in this thread's cache) */
    const bool all_short = r->long_strings == 0;
    size_t slen[CF_COUNT];
    if (!all_short)
        string_lengths(r, slen);
    if (!CANON_HAS(r, CF_EMAIL) || CANON_NULL(r, CF_EMAIL) || !*r->v[CF_EMAIL].s) {
        dlq_line(t, lid, "ometria", "email", "field-mapper");
        om_ok = false;
    } else if (!all_short) {
        /* serialise only when the record might be near the limit: an escaped string is at most
         * 6 bytes per input byte, and the rest of a contact is well under 8 KB */
        size_t bound = 8192;
        for (int f = 0; f < CF_COUNT; f++)
            if (CANON_HAS(r, f) && !CANON_NULL(r, f) && (tl_fields[f].type == CT_STR || tl_fields[f].type == CT_REWARDS))
                bound += 6 * slen[f] * 3; /* loyalty_id appears three times */
        size_t contact_bytes = 0;
        if (bound > 60 * 1024) {
            jw_reset(&t->w);
            write_ometria_contact(t, &t->w, r, true);
            contact_bytes = t->w.len;
            jw_reset(&t->w);
        }
        if (contact_bytes > 60 * 1024) {
            int f = CF_FIRST_NAME, best = -1;
            size_t longest = 0;
            for (f = 0; f < CF_COUNT; f++)
                if (CANON_HAS(r, f) && !CANON_NULL(r, f) && (tl_fields[f].type == CT_STR || tl_fields[f].type == CT_REWARDS) &&
                    strlen(r->v[f].s) > longest) {
                    longest = strlen(r->v[f].s);
                    best = f;
                }
            dlq_line(t, lid, "ometria", best >= 0 ? tl_fields[best].name : "record", "ometria-sink");
            om_ok = false;
        }
    }
    int ibv = all_short ? -1 : infobip_violation(r, slen);
    if (ibv >= 0) {
        /* the shipped Infobip mapping parks over-long ids and names itself
         * (max_length, issue 17); longer attributes are the sink's */
        bool mapper_limit = ibv == CF_LOYALTY_ID || ibv == CF_FIRST_NAME || ibv == CF_LAST_NAME;
        dlq_line(t, lid, "infobip", tl_fields[ibv].name, mapper_limit ? "field-mapper" : "infobip-sink");
        ib_ok = false;
    }
    apply_destinations(t, mm, r, om_ok, ib_ok);
}

void truth_feed_event(truth_t *t, void *json_event)
{
    json_t *ev = json_event;
    const char *id = json_string_value(json_object_get(ev, "event_id"));
    const char *lid = json_string_value(json_object_get(ev, "loyalty_id"));
    if (!id || strlen(id) > 32 || !lid) {
        dlq_line(t, lid ? lid : "", "any", id ? "event_id" : (lid ? "event_id" : "loyalty_id"), "tier-event-deriver");
        json_decref(ev);
        return;
    }
    long idx = member_find(t, tl_strdup(lid), true);
    if (t->nev == t->capev) {
        t->capev = t->capev ? t->capev * 2 : 4096;
        t->ev = xrealloc(t->ev, t->capev * sizeof(*t->ev));
        tl_advise_huge(t->ev, t->capev * sizeof(*t->ev));
    }
    tevent_t *e = &t->ev[t->nev];
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->type = 255;
    e->member = (uint32_t)idx;
    e->seq = t->nev++;
    e->loyalty_id = t->m[idx].loyalty_id;
    e->raw = ev;
}

/* ---- output ---- */

/* An event in the sort by (id, seq): the first 8 bytes of the id as a big-endian number (NUL
 * padded, so comparing it orders like strcmp on those bytes), the id, and the event's slot
 * (its seq: events are pushed in seq order). Small keys sort much faster than whole events. */
typedef struct event_key {
    uint64_t prefix;
    const char *id;
    size_t idx;
} event_key_t;

static uint64_t id_prefix(const char *id)
{
    size_t n = strnlen(id, 8);
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | (i < n ? (unsigned char)id[i] : 0u);
    return v;
}

static int cmp_event_key(const void *a, const void *b)
{
    const event_key_t *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts t->ev by (id, seq) in place. Returns false when out of memory. */
static bool sort_events(truth_t *t)
{
    event_key_t *keys = malloc((t->nev + 1) * sizeof(*keys));
    if (!keys)
        return false;
    for (size_t i = 0; i < t->nev; i++)
        keys[i] = (event_key_t){.prefix = id_prefix(t->ev[i].id), .id = t->ev[i].id, .idx = i};
    qsort(keys, t->nev, sizeof(*keys), cmp_event_key);
    /* apply the permutation (new slot i takes old slot keys[i].idx) by following its cycles;
     * a slot done is marked with SIZE_MAX */
    for (size_t i = 0; i < t->nev; i++) {
        if (keys[i].idx == SIZE_MAX)
            continue;
        tevent_t held = t->ev[i];
        size_t j = i;
        for (;;) {
            size_t from = keys[j].idx;
            keys[j].idx = SIZE_MAX;
            if (from == i) {
                t->ev[j] = held;
                break;
            }
            t->ev[j] = t->ev[from];
            j = from;
        }
    }
    free(keys);
    return true;
}

static void write_event_props(jw_t *w, const tevent_t *e)
{
    char tmp[24];
    jw_char(w, '{');
    switch (e->type) {
    case EV_OPT_IN:
        tl_fmt_ts(e->date, tmp);
        JW_LIT(w, "\"opt_in_date\":");
        jw_str(w, tmp);
        break;
    case EV_OPT_OUT:
        tl_fmt_date(e->date, tmp);
        JW_LIT(w, "\"opt_out_date\":");
        jw_str(w, tmp);
        break;
    case EV_ACCRUAL:
    case EV_REDEMPTION:
        JW_LIT(w, "\"points\":");
        jw_int(w, e->n1);
        jw_lit(w, e->type == EV_ACCRUAL ? ",\"earned_points\":" : ",\"used_points\":");
        jw_int(w, e->n2);
        if (e->has_n3) {
            JW_LIT(w, ",\"available_points\":");
            jw_int(w, e->n3);
        }
        break;
    case EV_UPGRADE:
    case EV_DOWNGRADE:
        JW_LIT(w, "\"from_tier\":");
        jw_str(w, e->s1);
        JW_LIT(w, ",\"to_tier\":");
        jw_str(w, e->s2);
        tl_fmt_date(e->date, tmp);
        JW_LIT(w, ",\"tier_achieve_date\":");
        jw_str(w, tmp);
        break;
    case EV_ANNIVERSARY:
        JW_LIT(w, "\"tier\":");
        jw_str(w, e->s1);
        tl_fmt_date(e->date, tmp);
        JW_LIT(w, ",\"tier_achieve_date\":");
        jw_str(w, tmp);
        JW_LIT(w, ",\"years\":");
        jw_int(w, e->n1);
        break;
    case EV_CLOSE:
        JW_LIT(w, "\"current_tier\":");
        jw_str(w, e->s1);
        JW_LIT(w, ",\"next_tier\":");
        jw_str(w, e->s2);
        JW_LIT(w, ",\"points_req_for_next_tier\":");
        jw_int(w, e->n1);
        break;
    }
    jw_char(w, '}');
}

/* Writes a JSON value from a source event. */
static void write_json(jw_t *w, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    jw_lit(w, s ? s : "null");
    free(s);
}

/* Writes the canonical event line of e (a source event as delivered). */
static void write_canonical_event(jw_t *w, const tevent_t *e)
{
    char ts[21];
    if (e->raw) {
        write_json(w, e->raw);
        return;
    }
    JW_LIT(w, "{\"kind\":\"event\",\"event_type\":");
    jw_str(w, tl_event_types[e->type]);
    JW_LIT(w, ",\"event_id\":");
    jw_str(w, e->id);
    JW_LIT(w, ",\"loyalty_id\":");
    jw_str(w, e->loyalty_id);
    if (e->email) {
        JW_LIT(w, ",\"email\":");
        jw_str(w, e->email);
    }
    tl_fmt_ts(e->occurred, ts);
    JW_LIT(w, ",\"occurred_at\":");
    jw_str(w, ts);
    JW_LIT(w, ",\"origin\":\"derived\",\"properties\":");
    write_event_props(w, e);
    jw_char(w, '}');
}

/* Type index of a source event's event_type, or -1. */
static int source_type(const tevent_t *e)
{
    const char *ty = json_string_value(json_object_get(e->raw, "event_type"));
    for (int i = 0; ty && i < 8; i++)
        if (strcmp(ty, tl_event_types[i]) == 0)
            return i;
    return -1;
}

/* Writes `occurred` as the destination's timestamp form: ometria +00:00, infobip .000+0000. */
static void write_dest_time(jw_t *w, const tevent_t *e, bool infobip)
{
    char ts[21], out[40];
    if (e->raw) {
        const char *s = json_string_value(json_object_get(e->raw, "occurred_at"));
        int64_t secs;
        if (!s || !tl_parse_ts(s, &secs)) {
            jw_str(w, s ? s : "");
            return;
        }
        tl_fmt_ts(secs, ts);
    } else {
        tl_fmt_ts(e->occurred, ts);
    }
    snprintf(out, sizeof(out), "%.19s%s", ts, infobip ? ".000+0000" : "+00:00");
    jw_str(w, out);
}

static void write_ometria_event(jw_t *w, const tevent_t *e)
{
    int ty = e->raw ? source_type(e) : e->type;
    const char *email = e->raw ? json_string_value(json_object_get(e->raw, "email")) : e->email;
    JW_LIT(w, "{\"id\":");
    jw_str(w, e->id);
    JW_LIT(w, ",\"timestamp\":");
    write_dest_time(w, e, false);
    JW_LIT(w, ",\"event_type\":");
    jw_str(w, ty >= 0 ? ometria_event_types[ty] : "");
    if (email) {
        JW_LIT(w, ",\"identity_email\":");
        jw_str(w, email);
    }
    JW_LIT(w, ",\"identity_account_id\":");
    jw_str(w, e->loyalty_id);
    JW_LIT(w, ",\"properties\":");
    if (e->raw)
        write_json(w, json_object_get(e->raw, "properties") ? json_object_get(e->raw, "properties") : json_object());
    else
        write_event_props(w, e);
    jw_char(w, '}');
}

static void write_infobip_event(jw_t *w, const tevent_t *e)
{
    int ty = e->raw ? source_type(e) : e->type;
    JW_LIT(w, "{\"eventId\":");
    jw_str(w, e->id);
    JW_LIT(w, ",\"definitionId\":");
    jw_str(w, ty >= 0 ? infobip_definitions[ty] : "");
    JW_LIT(w, ",\"occurredTime\":");
    write_dest_time(w, e, true);
    JW_LIT(w, ",\"identifier\":{\"id\":");
    jw_str(w, e->loyalty_id);
    JW_LIT(w, ",\"type\":\"EXTERNAL_ID\"},\"properties\":");
    if (e->raw)
        write_json(w, json_object_get(e->raw, "properties") ? json_object_get(e->raw, "properties") : json_object());
    else
        write_event_props(w, e);
    jw_char(w, '}');
}

/* A member in the output order: its id and its slot (sorted by id; no global sort context, so
 * engines in several threads may finish at once). Ids are unique, so the order is total. */
typedef struct member_key {
    const char *id;
    uint32_t idx;
} member_key_t;

static int cmp_member_key(const void *a, const void *b)
{
    return strcmp(((const member_key_t *)a)->id, ((const member_key_t *)b)->id);
}

static tl_out_t *open_out(const truth_t *t, const char *name, char *msg, size_t msglen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    return tl_out_open(path, t->opts.direct_io, msg, msglen);
}

/* Writes the "<list or tag>": [sorted ids] map for destination state `ib` (false = ometria). */
static void write_memberships(truth_t *t, tl_out_t *f, const uint32_t *order, bool ib)
{
    jw_t *w = &t->w;
    bool first = true;
    for (int li = -1; li < t->prog->nsegments; li++) {
        bool any = false;
        for (size_t k = 0; k < t->nm; k++) {
            const tmember_t *mm = &t->m[order[k]];
            const canon_t *r = ib ? mm->ib : mm->om;
            if (!r || !((memberships(t, r) >> (li + 1)) & 1u))
                continue;
            if (!any) {
                if (!first)
                    JW_LIT(w, ",\n");
                first = false;
                if (ib) {
                    jw_str(w, li < 0 ? "Loyalty" : tl_segment_name(li));
                } else {
                    char num[16];
                    snprintf(num, sizeof(num), "%d", 1001 + li + 1);
                    jw_str(w, num);
                }
                JW_LIT(w, ":[");
                any = true;
            } else {
                jw_char(w, ',');
            }
            jw_str(w, mm->loyalty_id);
            if (w->len > (1 << 20))
                jw_flush_out(w, f);
        }
        if (any)
            jw_char(w, ']');
    }
}

int truth_finish(truth_t *t, char *msg, size_t msglen)
{
    int rc = -1;
    tl_out_t *fe = NULL, *fo = NULL, *fi = NULL;
    uint32_t *order = NULL;
    member_key_t *keys = NULL;
    jw_t *w = &t->w;
    jw_reset(w);
    fflush(t->dlq);
    if (!sort_events(t)) {
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    /* de-duplicate by id: the first derived/delivered wins */
    size_t n = 0;
    for (size_t i = 0; i < t->nev; i++) {
        if (n && strcmp(t->ev[n - 1].id, t->ev[i].id) == 0) {
            json_decref(t->ev[i].raw);
            continue;
        }
        t->ev[n++] = t->ev[i];
    }
    t->nev = n;
    order = malloc((t->nm + 1) * sizeof(*order));
    keys = malloc((t->nm + 1) * sizeof(*keys));
    if (!order || !keys) {
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->nm; i++)
        keys[i] = (member_key_t){.id = t->m[i].loyalty_id, .idx = (uint32_t)i};
    bool in_order = true;
    for (size_t i = 1; i < t->nm && in_order; i++)
        in_order = strcmp(keys[i - 1].id, keys[i].id) < 0;
    if (!in_order)
        qsort(keys, t->nm, sizeof(*keys), cmp_member_key);
    for (size_t i = 0; i < t->nm; i++)
        order[i] = keys[i].idx;
    free(keys);
    keys = NULL;

    if (!(fe = open_out(t, "events.jsonl", msg, msglen)) || !(fo = open_out(t, "ometria.json", msg, msglen)) ||
        !(fi = open_out(t, "infobip.json", msg, msglen)))
        goto out;
    for (size_t i = 0; i < t->nev; i++) {
        write_canonical_event(w, &t->ev[i]);
        jw_char(w, '\n');
        if (w->len > (1 << 20))
            jw_flush_out(w, fe);
    }
    jw_flush_out(w, fe);

    /* ometria.json */
    JW_LIT(w, "{\"contacts\":{");
    bool first = true;
    for (size_t k = 0; k < t->nm; k++) {
        const tmember_t *mm = &t->m[order[k]];
        if (!mm->om)
            continue;
        jw_lit(w, first ? "\n" : ",\n");
        first = false;
        jw_char(w, '"');
        jw_lit(w, t->opts.collection);
        jw_char(w, '/');
        jw_t idw = {0};
        jw_str(&idw, mm->loyalty_id);
        jw_raw(w, idw.buf + 1, idw.len - 1); /* the escaped id already ends with the closing quote */
        jw_free(&idw);
        jw_char(w, ':');
        write_ometria_contact(t, w, mm->om, false);
        if (w->len > (1 << 20))
            jw_flush_out(w, fo);
    }
    JW_LIT(w, "},\n\"events\":{");
    for (size_t i = 0; i < t->nev; i++) {
        jw_lit(w, i ? ",\n" : "\n");
        jw_str(w, t->ev[i].id);
        JW_LIT(w, ":{\"record\":");
        write_ometria_event(w, &t->ev[i]);
        jw_char(w, '}');
        if (w->len > (1 << 20))
            jw_flush_out(w, fo);
    }
    JW_LIT(w, "},\n\"segments\":{");
    write_memberships(t, fo, order, false);
    JW_LIT(w, "}}\n");
    jw_flush_out(w, fo);

    /* infobip.json */
    JW_LIT(w, "{\"persons\":{");
    first = true;
    for (size_t k = 0; k < t->nm; k++) {
        const tmember_t *mm = &t->m[order[k]];
        if (!mm->ib)
            continue;
        jw_lit(w, first ? "\n" : ",\n");
        first = false;
        jw_str(w, mm->loyalty_id);
        jw_char(w, ':');
        write_infobip_person(t, w, mm);
        if (w->len > (1 << 20))
            jw_flush_out(w, fi);
    }
    JW_LIT(w, "},\n\"tags\":{");
    write_memberships(t, fi, order, true);
    JW_LIT(w, "},\n\"events\":{");
    for (size_t i = 0; i < t->nev; i++) {
        jw_lit(w, i ? ",\n" : "\n");
        jw_str(w, t->ev[i].id);
        JW_LIT(w, ":{\"event\":");
        write_infobip_event(w, &t->ev[i]);
        jw_char(w, '}');
        if (w->len > (1 << 20))
            jw_flush_out(w, fi);
    }
    JW_LIT(w, "}}\n");
    jw_flush_out(w, fi);
    if (ferror(t->dlq)) {
        snprintf(msg, msglen, "write error in %s/dlq.jsonl", t->dir);
        goto out;
    }
    rc = 0;
out:
    {
        /* close all three; the first failure names its file */
        char path[4096], err[4200];
        const char *names[3] = {"events.jsonl", "ometria.json", "infobip.json"};
        tl_out_t *files[3] = {fe, fo, fi};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/%s", t->dir, names[i]);
            if (tl_out_close(files[i], err, sizeof(err), path) != 0 && rc == 0) {
                snprintf(msg, msglen, "%s", err);
                rc = -1;
            }
        }
    }
    free(order);
    free(keys);
    return rc;
}
