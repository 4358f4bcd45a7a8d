/* tests/emulators/emu_common.c: the shared HTTP emulator framework (see emu_common.h). */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif
#include "emu_common.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#define MAX_ROUTES 64
#define MAX_RESP_HEADERS 8

typedef struct route {
    const char *method;       /* NULL = any */
    char *pattern;            /* owned copy */
    emu_handler_fn handler;
} route;

struct emu_server {
    char *name;
    emu_config cfg;
    emu_hooks hooks;
    void *user;
    route routes[MAX_ROUTES];
    size_t n_routes;

    pthread_mutex_t state_lock;   /* emulator data (emu_lock) */
    pthread_mutex_t fault_lock;   /* cfg.faults */
    pthread_mutex_t stats_lock;   /* the stats below */
    atomic_uint_fast64_t seq;     /* next fault sequence number */

    long long requests;
    json_t *by_status;            /* {"200": n, ...} */
    long long injected_5xx, injected_429, injected_resets;
    json_t *counters;             /* emu_count() */

    FILE *log;
    pthread_mutex_t log_lock;
};

struct emu_response {
    int status;
    char *body;                   /* malloc'd; NULL = empty */
    size_t body_len;
    const char *content_type;     /* static string */
    char *header_names[MAX_RESP_HEADERS];
    char *header_values[MAX_RESP_HEADERS];
    size_t n_headers;
};

/* Per-connection request state, from the first access call to completion. */
typedef struct request_ctx {
    char *body;
    size_t len, cap;
    bool too_large;
} request_ctx;

/* Bodies up to this size keep their buffer in a per-thread cache between
 * requests: with one thread per keep-alive connection this saves a large
 * malloc/free per request (which costs glibc a fastbin consolidation, or
 * an mmap and page faults). 4 MB holds a 1,000-person Infobip upsert. */
#define CACHED_BODY_MAX (4u * 1024u * 1024u)
static pthread_key_t ctx_cache_key;
static pthread_once_t ctx_cache_once = PTHREAD_ONCE_INIT;

/* Frees a request context and its body (pthread key destructor too). */
static void free_ctx(void *ptr)
{
    request_ctx *rc = ptr;
    if (rc) {
        free(rc->body);
        free(rc);
    }
}

/* Creates the per-thread context cache key (once). */
static void make_ctx_cache_key(void)
{
    pthread_key_create(&ctx_cache_key, free_ctx);
}

/* A fresh request context, from this thread's cache when there is one.
 * Returns NULL on allocation failure. */
static request_ctx *take_ctx(void)
{
    pthread_once(&ctx_cache_once, make_ctx_cache_key);
    request_ctx *rc = pthread_getspecific(ctx_cache_key);
    if (rc) {
        pthread_setspecific(ctx_cache_key, NULL);
        rc->len = 0;
        rc->too_large = false;
        if (rc->body)
            rc->body[0] = '\0';
        return rc;
    }
    return calloc(1, sizeof(request_ctx));
}

/* Gives a finished context back to this thread's cache, or frees it. */
static void give_ctx(request_ctx *rc)
{
    pthread_once(&ctx_cache_once, make_ctx_cache_key);
    if (rc->cap <= CACHED_BODY_MAX && !pthread_getspecific(ctx_cache_key) &&
        pthread_setspecific(ctx_cache_key, rc) == 0)
        return;
    free_ctx(rc);
}

/* ---------------------------------------------------------------- jansson allocations */

/* jansson allocates every value, key and table separately: parsing a
 * 26 KB Ometria push makes ~4,500 small allocations and a 1,000-person
 * Infobip upsert ~100,000, and about as many older ones are freed when
 * state is replaced. glibc's per-thread cache keeps only 7 blocks per size,
 * so nearly all of them went through the arena paths (_int_malloc,
 * _int_free, malloc_consolidate: ~30% of the emulators' CPU). This cache
 * keeps freed blocks of up to CACHE_CLASSES size classes in a per-thread
 * LIFO list instead (installed by emu_memory_setup). Blocks are ordinary
 * malloc blocks whose usable size is at least the class size, so a block
 * may be freed by any thread (it lands in that thread's list) and libc
 * free() stays valid on them. */
#define CACHE_CLASSES 32               /* class k holds blocks of >= 16k+8 usable bytes */
#define CACHE_BYTES_MAX (16u << 20)    /* per thread; beyond it blocks go to free() */

typedef struct cached_block {
    struct cached_block *next;
} cached_block;

typedef struct alloc_cache {
    cached_block *lists[CACHE_CLASSES];
    size_t bytes;                      /* class bytes held in the lists */
    bool flush_at_exit;                /* registered with cache_exit_key */
} alloc_cache;

static _Thread_local alloc_cache thread_cache;
static pthread_key_t cache_exit_key;
static pthread_once_t cache_exit_once = PTHREAD_ONCE_INIT;
static bool cache_exit_key_made;

/* pthread key destructor: gives this thread's cached blocks back to malloc
 * when it exits (MHD ends a connection's thread with the connection). */
static void flush_thread_cache(void *unused)
{
    for (size_t k = 0; k < CACHE_CLASSES; k++) {
        cached_block *b = thread_cache.lists[k];
        while (b) {
            cached_block *next = b->next;
            free(b);
            b = next;
        }
        thread_cache.lists[k] = NULL;
    }
    thread_cache.bytes = 0;
    thread_cache.flush_at_exit = false;
}

/* Creates the key whose destructor flushes a thread's cache (once). */
static void make_cache_exit_key(void)
{
    cache_exit_key_made = pthread_key_create(&cache_exit_key, flush_thread_cache) == 0;
}

/* jansson malloc: a cached block of the size class, else malloc of the
 * class size (so the block fits its class when freed). NULL when out of
 * memory. */
static void *cached_malloc(size_t size)
{
    size_t k = size <= 24 ? 1 : (size - 8 + 15) / 16;
    if (k >= CACHE_CLASSES)
        return malloc(size);
    cached_block *b = thread_cache.lists[k];
    if (!b)
        return malloc(16 * k + 8);
    thread_cache.lists[k] = b->next;
    thread_cache.bytes -= 16 * k + 8;
    return b;
}

/* jansson free: keeps the block in this thread's list of the largest
 * class it fits, or frees it when too large or the cache is full. */
static void cached_free(void *ptr)
{
    if (!ptr)
        return;
    size_t usable = malloc_usable_size(ptr);
    size_t k = usable >= 24 ? (usable - 8) / 16 : 0;
    if (k == 0 || k >= CACHE_CLASSES || thread_cache.bytes + 16 * k + 8 > CACHE_BYTES_MAX) {
        free(ptr);
        return;
    }
    if (!thread_cache.flush_at_exit) {
        pthread_once(&cache_exit_once, make_cache_exit_key);
        if (!cache_exit_key_made ||
            pthread_setspecific(cache_exit_key, &thread_cache) != 0) {
            free(ptr);
            return;
        }
        thread_cache.flush_at_exit = true;
    }
    cached_block *b = ptr;
    b->next = thread_cache.lists[k];
    thread_cache.lists[k] = b;
    thread_cache.bytes += 16 * k + 8;
}

/* jemalloc's start-up options, read when it initialises (when the emulator
 * is linked with it, as configure does when it finds jemalloc; unused
 * under glibc malloc). An emulator's state only grows (every person,
 * contact and event it is sent): transparent huge pages for it cut the
 * page faults and TLB misses of that growth. */
const char *malloc_conf = "thp:always,metadata_thp:always";

void emu_memory_setup(void)
{
    /* Under jemalloc (it defines mallctl) its own thread caches do what
     * the cache below does for glibc, and the cache on top of them cost
     * more (its blocks rounded up to class sizes: more memory to fault
     * in; infobip-emu creating 100,000 persons: 1.0 -> 0.4 s of system
     * time). */
    if (dlsym(RTLD_DEFAULT, "mallctl"))
        return;
    /* Thread arenas grow one page at a time (sysmalloc + mprotect per
     * ~4 KB: 20% of infobip-emu's CPU while it creates persons); the main
     * arena grows by M_TOP_PAD with brk. Most small blocks come from the
     * per-thread cache (cached_malloc), so one arena is hardly contended. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TOP_PAD, 16 << 20);
    json_set_alloc_funcs(cached_malloc, cached_free);
}

/* ---------------------------------------------------------------- PRNG */

uint64_t emu_splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void emu_uuid(uint64_t seed, uint64_t n, char out[37])
{
    uint64_t a = emu_splitmix64(seed ^ (n * 2 + 0x5151));
    uint64_t b = emu_splitmix64(seed ^ (n * 2 + 0x5152));
    snprintf(out, 37, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%012" PRIx64,
             (uint32_t)(a >> 32), (uint32_t)((a >> 16) & 0xffff), (uint32_t)(a & 0xfff),
             (uint32_t)((b >> 48) & 0xfff), (uint64_t)(b & 0xffffffffffffULL));
}

/* ---------------------------------------------------------------- args */

/* Parses a fraction in [0,1] from s into *out. Returns 0, -1 when bad. */
static int parse_fraction(const char *flag, const char *s, double *out)
{
    char *end = NULL;
    if (!s) {
        fprintf(stderr, "%s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        fprintf(stderr, "%s: '%s' is not a fraction between 0 and 1\n", flag, s);
        return -1;
    }
    *out = v;
    return 0;
}

int emu_parse_rate(const char *flag, const char *value, double *out)
{
    char *end = NULL;
    double r;

    errno = 0;
    r = value ? strtod(value, &end) : -1;
    if (!value || errno || end == value || *end != '\0' || !(r >= 0 && r <= 1e6)) {
        fprintf(stderr, "%s: '%s' is not a rate between 0 and 1000000\n", flag, value ? value : "");
        return -1;
    }
    *out = r;
    return 0;
}

/* Parses a non-negative integer <= max from s into *out. Returns 0, -1. */
static int parse_count(const char *flag, const char *s, long long max, long long *out)
{
    char *end = NULL;
    if (!s) {
        fprintf(stderr, "%s needs a value\n", flag);
        return -1;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0 || v > max) {
        fprintf(stderr, "%s: '%s' is not an integer between 0 and %lld\n", flag, s, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Checks that the fault fractions can be bands of one uniform draw. */
static bool faults_consistent(const emu_faults *f)
{
    return f->fail_rate + f->rate429 + f->rate429_noretry + f->reset_rate <= 1.0 + 1e-9;
}

int emu_parse_args(int argc, char **argv, emu_config *cfg, const char *usage,
                   emu_extra_flag_fn extra, void *user)
{
    static const char common_usage[] =
        "common options:\n"
        "  --port N              listen on 127.0.0.1:N (0 = any free port)\n"
        "  --seed N              seed for deterministic faults (default 1)\n"
        "  --log FILE            request log (METHOD PATH STATUS BYTES)\n"
        "  --fail-rate F         fraction of requests answered 500/502/503\n"
        "  --rate429 F           fraction answered 429 with Retry-After\n"
        "  --rate429-noretry F   fraction answered 429 without Retry-After\n"
        "  --retry-after S       Retry-After seconds\n"
        "  --latency-ms N        delay before each answer\n"
        "  --reset-rate F        fraction of connections dropped mid-request\n"
        "  --reject-auth         reject every credential\n";
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->faults.retry_after = -1;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        long long n = 0;
        int rc = 0;
        int used = 2;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            printf("%s%s", usage ? usage : "", common_usage);
            return 1;
        } else if (strcmp(flag, "--port") == 0) {
            rc = parse_count(flag, value, 65535, &n);
            cfg->port = (int)n;
        } else if (strcmp(flag, "--seed") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long s = value ? strtoull(value, &end, 10) : 0;
            if (!value) {
                fprintf(stderr, "--seed needs a value\n");
                rc = -1;
            } else if (errno || end == value || *end != '\0' || value[0] == '-') {
                fprintf(stderr, "--seed: '%s' is not an unsigned integer\n", value);
                rc = -1;
            }
            cfg->seed = s;
        } else if (strcmp(flag, "--log") == 0) {
            if (!value) {
                fprintf(stderr, "--log needs a file name\n");
                rc = -1;
            }
            cfg->log_path = value;
        } else if (strcmp(flag, "--fail-rate") == 0) {
            rc = parse_fraction(flag, value, &cfg->faults.fail_rate);
        } else if (strcmp(flag, "--rate429") == 0) {
            rc = parse_fraction(flag, value, &cfg->faults.rate429);
        } else if (strcmp(flag, "--rate429-noretry") == 0) {
            rc = parse_fraction(flag, value, &cfg->faults.rate429_noretry);
        } else if (strcmp(flag, "--reset-rate") == 0) {
            rc = parse_fraction(flag, value, &cfg->faults.reset_rate);
        } else if (strcmp(flag, "--retry-after") == 0) {
            rc = parse_count(flag, value, 86400, &n);
            cfg->faults.retry_after = (int)n;
        } else if (strcmp(flag, "--latency-ms") == 0) {
            rc = parse_count(flag, value, 600000, &n);
            cfg->faults.latency_ms = (int)n;
        } else if (strcmp(flag, "--reject-auth") == 0) {
            cfg->faults.reject_auth = true;
            used = 1;
        } else if (extra) {
            used = extra(user, flag, value);
            if (used < 1)
                rc = -1;
        } else {
            fprintf(stderr, "unknown option '%s' (try --help)\n", flag);
            rc = -1;
        }
        if (rc < 0) {
            fprintf(stderr, "%s", usage ? usage : "");
            return -1;
        }
        i += used - 1;
    }
    if (!faults_consistent(&cfg->faults)) {
        fprintf(stderr, "fault fractions add up to more than 1\n");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- server */

emu_server *emu_server_new(const char *name, const emu_config *cfg,
                           const emu_hooks *hooks, void *user)
{
    emu_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->name = strdup(name ? name : "emulator");
    srv->cfg = *cfg;
    if (hooks)
        srv->hooks = *hooks;
    srv->user = user;
    srv->by_status = json_object();
    srv->counters = json_object();
    pthread_mutex_init(&srv->state_lock, NULL);
    pthread_mutex_init(&srv->fault_lock, NULL);
    pthread_mutex_init(&srv->stats_lock, NULL);
    pthread_mutex_init(&srv->log_lock, NULL);
    atomic_init(&srv->seq, 0);
    if (!srv->name || !srv->by_status || !srv->counters)
        emu_server_free(&srv);
    return srv;
}

void emu_server_free(emu_server **srv_p)
{
    if (!srv_p || !*srv_p)
        return;
    emu_server *srv = *srv_p;
    for (size_t i = 0; i < srv->n_routes; i++)
        free(srv->routes[i].pattern);
    json_decref(srv->by_status);
    json_decref(srv->counters);
    if (srv->log)
        fclose(srv->log);
    pthread_mutex_destroy(&srv->state_lock);
    pthread_mutex_destroy(&srv->fault_lock);
    pthread_mutex_destroy(&srv->stats_lock);
    pthread_mutex_destroy(&srv->log_lock);
    free(srv->name);
    free(srv);
    *srv_p = NULL;
}

int emu_route(emu_server *srv, const char *method, const char *pattern,
              emu_handler_fn handler)
{
    size_t captures = 0;
    for (const char *p = strstr(pattern, "{}"); p; p = strstr(p + 2, "{}"))
        captures++;
    if (srv->n_routes >= MAX_ROUTES || captures > EMU_MAX_PARAMS || pattern[0] != '/')
        return -1;
    char *copy = strdup(pattern);
    if (!copy)
        return -1;
    srv->routes[srv->n_routes].method = method;
    srv->routes[srv->n_routes].pattern = copy;
    srv->routes[srv->n_routes].handler = handler;
    srv->n_routes++;
    return 0;
}

void emu_lock(emu_server *srv) { pthread_mutex_lock(&srv->state_lock); }
void emu_unlock(emu_server *srv) { pthread_mutex_unlock(&srv->state_lock); }
uint64_t emu_seed(const emu_server *srv) { return srv->cfg.seed; }

emu_faults emu_get_faults(emu_server *srv)
{
    pthread_mutex_lock(&srv->fault_lock);
    emu_faults copy = srv->cfg.faults;
    pthread_mutex_unlock(&srv->fault_lock);
    return copy;
}

bool emu_reject_auth(emu_server *srv)
{
    return emu_get_faults(srv).reject_auth;
}

/* Adds delta to integer member key of obj (created at 0). */
static void json_counter_add(json_t *obj, const char *key, long long delta)
{
    json_t *cur = json_object_get(obj, key);
    long long v = cur ? json_integer_value(cur) : 0;
    json_object_set_new(obj, key, json_integer(v + delta));
}

void emu_count(emu_server *srv, const char *name, long long delta)
{
    pthread_mutex_lock(&srv->stats_lock);
    json_counter_add(srv->counters, name, delta);
    pthread_mutex_unlock(&srv->stats_lock);
}

/* ---------------------------------------------------------------- helpers */

const char *emu_header(const emu_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->connection,
                                       MHD_HEADER_KIND, name);
}

const char *emu_query(const emu_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->connection,
                                       MHD_GET_ARGUMENT_KIND, name);
}

/* Replaces the response body with a copy of len bytes of data. */
static void set_body(emu_response *resp, int status, const char *data, size_t len,
                     const char *content_type)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->status = status;
    resp->content_type = content_type;
    if (len > 0) {
        resp->body = malloc(len);
        if (!resp->body) {
            resp->status = 500;
            return;
        }
        memcpy(resp->body, data, len);
        resp->body_len = len;
    }
}

/* emu_respond_json with extra jansson dump flags. */
static void respond_json_flags(emu_response *resp, int status, json_t *body, size_t flags)
{
    if (!body) {
        set_body(resp, status, NULL, 0, "application/json");
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY | flags);
    json_decref(body);
    if (!text) {
        set_body(resp, 500, "{\"error\":\"emulator could not encode its answer\"}", 47,
                 "application/json");
        return;
    }
    set_body(resp, status, text, strlen(text), "application/json");
    free(text);
}

void emu_respond_json(emu_response *resp, int status, json_t *body)
{
    respond_json_flags(resp, status, body, 0);
}

void emu_respond_pack(emu_response *resp, int status, const char *fmt, ...)
{
    va_list ap;
    json_error_t err;
    va_start(ap, fmt);
    json_t *body = json_vpack_ex(&err, 0, fmt, ap);
    va_end(ap);
    if (!body) {
        fprintf(stderr, "emulator bug: json_pack(\"%s\"): %s\n", fmt, err.text);
        emu_respond_text(resp, 500, "emulator bug: bad json_pack format");
        return;
    }
    emu_respond_json(resp, status, body);
}

void emu_respond_text(emu_response *resp, int status, const char *text)
{
    set_body(resp, status, text, strlen(text), "text/plain");
}

int emu_respond_header(emu_response *resp, const char *name, const char *value)
{
    if (resp->n_headers >= MAX_RESP_HEADERS)
        return -1;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    resp->header_names[resp->n_headers] = n;
    resp->header_values[resp->n_headers] = v;
    resp->n_headers++;
    return 0;
}

/* Frees everything the response holds. */
static void response_clear(emu_response *resp)
{
    free(resp->body);
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->header_names[i]);
        free(resp->header_values[i]);
    }
    memset(resp, 0, sizeof(*resp));
}

/* ---------------------------------------------------------------- dates */

/* Gregorian leap year. */
static bool is_leap(long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days in month m (1..12) of year y. */
static int days_in_month(long y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits at s into *out. Returns true on success. */
static bool read_digits(const char *s, int n, long *out)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses "YYYY-MM-DD" at s; on success stores the day number. */
static bool parse_date_prefix(const char *s, int64_t *days)
{
    long y, m, d;
    if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &m) ||
        s[7] != '-' || !read_digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, (int)m))
        return false;
    if (days)
        *days = days_from_civil(y, m, d);
    return true;
}

bool emu_valid_date(const char *s)
{
    return s && strlen(s) == 10 && parse_date_prefix(s, NULL);
}

bool emu_parse_timestamp(const char *s, bool require_offset, int64_t *epoch)
{
    int64_t days;
    long hh, mm, ss;
    if (!s || strlen(s) < 19 || !parse_date_prefix(s, &days) || s[10] != 'T' ||
        !read_digits(s + 11, 2, &hh) || s[13] != ':' || !read_digits(s + 14, 2, &mm) ||
        s[16] != ':' || !read_digits(s + 17, 2, &ss))
        return false;
    if (hh > 23 || mm > 59 || ss > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        long oh, om;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!read_digits(p, 2, &oh))
            return false;
        p += 2;
        if (*p == ':')
            p++;
        if (!read_digits(p, 2, &om))
            return false;
        p += 2;
        if (oh > 23 || om > 59)
            return false;
        offset = sign * (oh * 3600 + om * 60);
    } else if (require_offset) {
        return false;
    }
    if (*p != '\0')
        return false;
    if (epoch)
        *epoch = days * 86400 + hh * 3600 + mm * 60 + ss - offset;
    return true;
}

/* ---------------------------------------------------------------- bucket */

/* Seconds on the monotonic clock. */
static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool emu_bucket_take(emu_bucket *bucket, double rate)
{
    if (rate <= 0)
        return true;
    double now = monotonic_seconds();
    double burst = rate < 1.0 ? 1.0 : rate; /* a rate under 1/s still allows one */
    if (bucket->last == 0) {
        bucket->tokens = burst;
    } else {
        bucket->tokens += (now - bucket->last) * rate;
        if (bucket->tokens > burst)
            bucket->tokens = burst;
    }
    bucket->last = now;
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return true;
    }
    return false;
}

long emu_bucket_left(const emu_bucket *bucket)
{
    return bucket->tokens > 0 ? (long)floor(bucket->tokens) : 0;
}

/* ---------------------------------------------------------------- /_emu */

/* Builds the stats object (caller owns). */
static json_t *stats_json(emu_server *srv)
{
    pthread_mutex_lock(&srv->stats_lock);
    /* Deep copies: the caller's object must not alias the live counters. */
    json_t *stats = json_pack("{s:I, s:o, s:{s:I, s:I, s:I}, s:o}",
                              "requests", (json_int_t)srv->requests,
                              "by_status", json_deep_copy(srv->by_status),
                              "faults", "injected_5xx", (json_int_t)srv->injected_5xx,
                              "injected_429", (json_int_t)srv->injected_429,
                              "resets", (json_int_t)srv->injected_resets,
                              "counters", json_deep_copy(srv->counters));
    pthread_mutex_unlock(&srv->stats_lock);
    return stats;
}

/* The fault settings as the JSON object of GET /_emu/faults (caller owns). */
static json_t *faults_json(const emu_faults *f)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:i, s:i, s:b}",
                     "fail_rate", f->fail_rate, "rate429", f->rate429,
                     "rate429_noretry", f->rate429_noretry, "reset_rate", f->reset_rate,
                     "retry_after", f->retry_after, "latency_ms", f->latency_ms,
                     "reject_auth", f->reject_auth);
}

/* Applies a POST /_emu/faults body to a copy of the settings; on success
 * installs it. Returns NULL or a message (static or in msg) on bad input. */
static const char *update_faults(emu_server *srv, const char *body, char *msg, size_t msg_len)
{
    json_error_t err;
    json_t *root = json_loads(body, 0, &err);
    const char *result = NULL;
    emu_faults f = emu_get_faults(srv);
    if (!root || !json_is_object(root)) {
        snprintf(msg, msg_len, "body must be a JSON object: %s",
                 root ? "not an object" : err.text);
        result = msg;
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        double *fraction = NULL;
        int *integer = NULL;
        long long max = 0;
        if (strcmp(key, "fail_rate") == 0) fraction = &f.fail_rate;
        else if (strcmp(key, "rate429") == 0) fraction = &f.rate429;
        else if (strcmp(key, "rate429_noretry") == 0) fraction = &f.rate429_noretry;
        else if (strcmp(key, "reset_rate") == 0) fraction = &f.reset_rate;
        else if (strcmp(key, "retry_after") == 0) { integer = &f.retry_after; max = 86400; }
        else if (strcmp(key, "latency_ms") == 0) { integer = &f.latency_ms; max = 600000; }
        else if (strcmp(key, "reject_auth") == 0) {
            if (!json_is_boolean(value)) {
                snprintf(msg, msg_len, "reject_auth must be true or false");
                result = msg;
                goto out;
            }
            f.reject_auth = json_is_true(value);
            continue;
        } else {
            snprintf(msg, msg_len, "unknown fault setting '%s'", key);
            result = msg;
            goto out;
        }
        if (fraction) {
            double v = json_number_value(value);
            if (!json_is_number(value) || !(v >= 0.0 && v <= 1.0)) {
                snprintf(msg, msg_len, "%s must be a number between 0 and 1", key);
                result = msg;
                goto out;
            }
            *fraction = v;
        } else {
            json_int_t v = json_integer_value(value);
            /* retry_after -1 switches Retry-After off again */
            bool ok = json_is_integer(value) &&
                      ((v >= 0 && v <= max) || (integer == &f.retry_after && v == -1));
            if (!ok) {
                snprintf(msg, msg_len, "%s must be an integer between 0 and %lld", key, max);
                result = msg;
                goto out;
            }
            *integer = (int)v;
        }
    }
    if (!faults_consistent(&f)) {
        snprintf(msg, msg_len, "fault fractions add up to more than 1");
        result = msg;
        goto out;
    }
    pthread_mutex_lock(&srv->fault_lock);
    srv->cfg.faults = f;
    pthread_mutex_unlock(&srv->fault_lock);
out:
    json_decref(root);
    return result;
}

/* Answers the built-in /_emu/ endpoints. Returns false when path is not one
 * of them (an emulator route may still match). */
static bool handle_builtin(emu_server *srv, const emu_request *req, emu_response *resp)
{
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(req->path, "/_emu/state") == 0 && get) {
        /* The hook may reference live objects (json "O"), so the dump to
         * text happens under the lock too. Keys sorted: stable for diffs. */
        char *text = NULL;
        emu_lock(srv);
        json_t *state = srv->hooks.state ? srv->hooks.state(srv->user) : json_object();
        if (state) {
            json_object_set_new(state, "stats", stats_json(srv));
            text = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(state);
        }
        emu_unlock(srv);
        if (!text) {
            emu_respond_pack(resp, 500, "{s:s}", "error", "state dump failed");
            return true;
        }
        set_body(resp, 200, text, strlen(text), "application/json");
        free(text);
    } else if (strcmp(req->path, "/_emu/reset") == 0 && post) {
        emu_lock(srv);
        if (srv->hooks.reset)
            srv->hooks.reset(srv->user);
        emu_unlock(srv);
        pthread_mutex_lock(&srv->stats_lock);
        srv->requests = srv->injected_5xx = srv->injected_429 = srv->injected_resets = 0;
        json_object_clear(srv->by_status);
        json_object_clear(srv->counters);
        atomic_store(&srv->seq, 0);
        pthread_mutex_unlock(&srv->stats_lock);
        emu_respond_pack(resp, 200, "{s:s}", "status", "reset");
    } else if (strcmp(req->path, "/_emu/faults") == 0 && (get || post)) {
        char msg[256];
        if (post) {
            const char *bad = update_faults(srv, req->body, msg, sizeof(msg));
            if (bad) {
                emu_respond_pack(resp, 400, "{s:s}", "error", bad);
                return true;
            }
        }
        emu_faults f = emu_get_faults(srv);
        emu_respond_json(resp, 200, faults_json(&f));
    } else if (strcmp(req->path, "/_emu/stats") == 0 && get) {
        emu_respond_json(resp, 200, stats_json(srv));
    } else {
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- routing */

/* Matches path against pattern. On a match returns true and stores each
 * "{}" capture as a malloc'd string in params (caller frees); on no match
 * returns false with params untouched (NULL). */
static bool route_match(const char *pattern, const char *path, char *params[EMU_MAX_PARAMS])
{
    const char *p = pattern, *s = path;
    size_t n_params = 0;
    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/')
            goto fail;
        p++;
        s++;
        size_t p_len = strcspn(p, "/"), s_len = strcspn(s, "/");
        if (p_len == 2 && memcmp(p, "{}", 2) == 0) {
            if (s_len == 0 || n_params >= EMU_MAX_PARAMS)
                goto fail;
            params[n_params] = strndup(s, s_len);
            if (!params[n_params])
                goto fail;
            n_params++;
        } else if (p_len != s_len || memcmp(p, s, p_len) != 0) {
            goto fail;
        }
        p += p_len;
        s += s_len;
    }
    if (*p == '\0' && *s == '\0')
        return true;
fail:
    for (size_t k = 0; k < n_params; k++) {
        free(params[k]);
        params[k] = NULL;
    }
    return false;
}

/* Finds the handler for req, filling req->params (freed by the caller), or
 * returns NULL with *status 404 (no such path) or 405 (path known, method
 * not). */
static emu_handler_fn find_route(emu_server *srv, emu_request *req, int *status)
{
    bool path_matched = false;
    for (size_t i = 0; i < srv->n_routes; i++) {
        char *params[EMU_MAX_PARAMS] = {0};
        if (!route_match(srv->routes[i].pattern, req->path, params))
            continue;
        path_matched = true;
        if (srv->routes[i].method && strcmp(srv->routes[i].method, req->method) != 0) {
            for (size_t k = 0; k < EMU_MAX_PARAMS; k++)
                free(params[k]);
            continue;
        }
        for (size_t k = 0; k < EMU_MAX_PARAMS; k++)
            req->params[k] = params[k];
        return srv->routes[i].handler;
    }
    *status = path_matched ? 405 : 404;
    return NULL;
}

/* ---------------------------------------------------------------- MHD glue */

/* Records one answered (or dropped: status 0) request in stats and log. */
static void account(emu_server *srv, const emu_request *req, int status, bool is_emu)
{
    if (!is_emu) {
        char key[16];
        snprintf(key, sizeof(key), "%d", status);
        pthread_mutex_lock(&srv->stats_lock);
        srv->requests++;
        if (status != 0)
            json_counter_add(srv->by_status, key, 1);
        pthread_mutex_unlock(&srv->stats_lock);
    }
    if (srv->log) {
        pthread_mutex_lock(&srv->log_lock);
        fprintf(srv->log, "%s %s %d %zu\n", req->method, req->path, status, req->body_len);
        fflush(srv->log);
        pthread_mutex_unlock(&srv->log_lock);
    }
}

/* Queues resp on the connection. Returns MHD's verdict. */
static enum MHD_Result send_response(struct MHD_Connection *conn, emu_response *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO;
    resp->body = NULL; /* now owned by MHD */
    resp->body_len = 0;
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Draws the fault for request number seq. Returns 0 (none), 5xx, 429, 1
 * (429 without Retry-After) or -1 (drop the connection). */
static int draw_fault(const emu_server *srv, const emu_faults *f, uint64_t seq)
{
    uint64_t r = emu_splitmix64(srv->cfg.seed ^ seq);
    double u = (double)(r >> 11) / 9007199254740992.0; /* 53 bits -> [0,1) */
    double band = f->fail_rate;
    if (u < band) {
        static const int codes[] = {500, 502, 503};
        return codes[(r & 0xff) % 3];
    }
    if (u < (band += f->rate429))
        return 429;
    if (u < (band += f->rate429_noretry))
        return 1;
    if (u < band + f->reset_rate)
        return -1;
    return 0;
}

/* Sleeps ms milliseconds, resuming after signals. */
static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Serves a completely received request. */
static enum MHD_Result serve(emu_server *srv, struct MHD_Connection *conn, const char *url,
                             const char *method, request_ctx *rc)
{
    emu_request req = {0};
    emu_response resp = {0};
    enum MHD_Result ret;
    req.method = method;
    req.path = url;
    req.body = rc->body && rc->len > 0 ? rc->body : "";
    req.body_len = rc->len;
    req.connection = conn;
    resp.status = 500;
    bool is_emu = strncmp(url, "/_emu/", 6) == 0 || strcmp(url, "/_emu") == 0;

    if (!is_emu) {
        req.seq = atomic_fetch_add(&srv->seq, 1);
        emu_faults f = emu_get_faults(srv);
        if (f.latency_ms > 0)
            sleep_ms(f.latency_ms);
        int fault = draw_fault(srv, &f, req.seq);
        if (fault == -1) {
            pthread_mutex_lock(&srv->stats_lock);
            srv->injected_resets++;
            pthread_mutex_unlock(&srv->stats_lock);
            account(srv, &req, 0, false);
            ret = MHD_NO; /* MHD closes the connection without an answer */
            goto out;
        }
        if (fault >= 500) {
            pthread_mutex_lock(&srv->stats_lock);
            srv->injected_5xx++;
            pthread_mutex_unlock(&srv->stats_lock);
            emu_respond_pack(&resp, fault, "{s:s, s:i}", "error", "injected fault", "status", fault);
            goto send;
        }
        if (fault == 429 || fault == 1) {
            pthread_mutex_lock(&srv->stats_lock);
            srv->injected_429++;
            pthread_mutex_unlock(&srv->stats_lock);
            if (srv->hooks.too_many)
                srv->hooks.too_many(srv, &resp, srv->user);
            else
                emu_respond_pack(&resp, 429, "{s:s}", "error", "Too many requests");
            resp.status = 429;
            if (fault == 429) {
                char secs[24];
                snprintf(secs, sizeof(secs), "%d", f.retry_after >= 0 ? f.retry_after : 1);
                emu_respond_header(&resp, "Retry-After", secs);
            }
            goto send;
        }
    }
    if (rc->too_large) {
        emu_respond_pack(&resp, 413, "{s:s, s:i}", "error", "request body too large",
                         "limit_bytes", (int)EMU_MAX_BODY);
        goto send;
    }
    if (is_emu && handle_builtin(srv, &req, &resp))
        goto send;
    int status = 404;
    emu_handler_fn handler = find_route(srv, &req, &status);
    if (!handler) {
        emu_respond_pack(&resp, status, "{s:s, s:s, s:s}", "error",
                         status == 405 ? "method not allowed" : "no such endpoint",
                         "method", method, "path", url);
        goto send;
    }
    handler(srv, &req, &resp, srv->user);
send:
    account(srv, &req, resp.status, is_emu);
    ret = send_response(conn, &resp);
out:
    for (size_t k = 0; k < EMU_MAX_PARAMS; k++)
        free((char *)req.params[k]);
    response_clear(&resp);
    return ret;
}

/* Appends upload data to rc, or marks it too large. */
static void collect_body(request_ctx *rc, const char *data, size_t size)
{
    if (rc->too_large)
        return;
    if (rc->len + size > EMU_MAX_BODY) {
        rc->too_large = true;
        free(rc->body);
        rc->body = NULL;
        rc->len = rc->cap = 0;
        return;
    }
    if (rc->len + size + 1 > rc->cap) {
        size_t cap = rc->cap ? rc->cap : 4096;
        while (cap < rc->len + size + 1)
            cap *= 2;
        char *grown = realloc(rc->body, cap);
        if (!grown) {
            rc->too_large = true; /* out of memory: answer 413 */
            return;
        }
        rc->body = grown;
        rc->cap = cap;
    }
    memcpy(rc->body + rc->len, data, size);
    rc->len += size;
    rc->body[rc->len] = '\0';
}

/* MHD access handler: first call sets up the request context (413 early
 * when Content-Length is over the cap), middle calls collect the body, the
 * last call serves. Returns MHD_NO only to drop the connection. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    emu_server *srv = cls;
    request_ctx *rc = *con_cls;
    if (!rc) {
        rc = take_ctx();
        if (!rc)
            return MHD_NO;
        *con_cls = rc;
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(length, &end, 10);
            if (!errno && end != length && *end == '\0' && n > EMU_MAX_BODY) {
                rc->too_large = true;
            } else if (!errno && end != length && *end == '\0' && n + 1 > rc->cap) {
                char *sized = realloc(rc->body, (size_t)n + 1); /* one allocation */
                if (sized) {
                    rc->body = sized;
                    rc->cap = (size_t)n + 1;
                }
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        collect_body(rc, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return serve(srv, conn, url, method, rc);
}

/* MHD completion callback: gives the request context back to the cache. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_ctx *rc = *con_cls;
    if (rc) {
        give_ctx(rc);
        *con_cls = NULL;
    }
}

int emu_run(emu_server *srv)
{
    int result = -1;
    struct MHD_Daemon *daemon = NULL;
    sigset_t signals;
    struct sockaddr_in addr;

    if (srv->cfg.log_path) {
        srv->log = fopen(srv->cfg.log_path, "a");
        if (!srv->log) {
            fprintf(stderr, "%s: cannot open log file %s: %s\n", srv->name,
                    srv->cfg.log_path, strerror(errno));
            goto out;
        }
    }
    /* Block the stop signals in every thread (MHD's inherit the mask) and
     * wait for them synchronously below: no async handler needed. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)srv->cfg.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_access, srv,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1000,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "%s: cannot listen on 127.0.0.1:%d: %s\n", srv->name, srv->cfg.port,
                strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)srv->cfg.port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&signals, &sig) != 0)
        ;
    fprintf(stderr, "%s: signal %d, stopping\n", srv->name, sig);
    result = 0;
out:
    if (daemon)
        MHD_stop_daemon(daemon);
    return result;
}
