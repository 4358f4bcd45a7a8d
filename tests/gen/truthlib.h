/* truthlib.h: canonical loyalty records in C form and the ground-truth engine (docs/loyalty-schema.md) shared by truth and loyaltygen. */
#ifndef SLUICE_GEN_TRUTHLIB_H
#define SLUICE_GEN_TRUTHLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- dates: days since 1970-01-01, timestamps: seconds since the epoch, UTC ---- */
int64_t tl_days_from_civil(int y, int m, int d);
void tl_civil_from_days(int64_t days, int *y, int *m, int *d);
bool tl_is_leap(int y);
int tl_days_in_month(int y, int m);
/* Parses "YYYY-MM-DD" strictly (real calendar date). Returns true and sets *days. */
bool tl_parse_date(const char *s, int64_t *days);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" strictly. Returns true and sets *secs. */
bool tl_parse_ts(const char *s, int64_t *secs);
/* Writes "YYYY-MM-DD" (11 bytes with NUL) into out. */
void tl_fmt_date(int64_t days, char out[11]);
/* Writes "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL) into out. */
void tl_fmt_ts(int64_t secs, char out[21]);
/* The N-th anniversary of a date: same month/day N years later, 29 Feb -> 28 Feb in non-leap years. */
int64_t tl_add_years(int64_t days, int years);

/* ---- big allocations ---- */
/* Asks the kernel to back the 2 MB-aligned part of [p, p+n) with huge pages (first touches of
 * fresh memory are the costly part of a big run). Advice only: nothing changes when refused. */
void tl_advise_huge(void *p, size_t n);

/* ---- arena: bump allocator for strings that live as long as the program ---- */
/* Returns a NUL-terminated copy of s[0..len) owned by the process-wide arena (freed by tl_arena_free). Aborts on OOM.
 * Not thread-safe: one thread allocates (in loyaltygen the generator; the truth threads only read). */
char *tl_strndup(const char *s, size_t len);
char *tl_strdup(const char *s);
void tl_arena_free(void);

/* ---- JSON writer into a growing buffer (fixed key order is the caller's) ---- */
typedef struct jw {
    char *buf;
    size_t len, cap;
} jw_t;
void jw_reset(jw_t *w);
void jw_free(jw_t *w);
void jw_raw(jw_t *w, const char *s, size_t n);
void jw_lit(jw_t *w, const char *s);      /* raw NUL-terminated text */
/* jw_lit for a string literal: its length is known at compile time. */
#define JW_LIT(w, lit) jw_raw((w), "" lit, sizeof(lit) - 1)
void jw_char(jw_t *w, char c);
void jw_str(jw_t *w, const char *s);      /* JSON string, escaped; UTF-8 passes through */
void jw_int(jw_t *w, int64_t v);
void jw_key(jw_t *w, bool *first, const char *key); /* writes [,]"key": */
/* Writes the buffer to f; returns false on a write error. */
bool jw_flush_to(jw_t *w, FILE *f);

/* ---- output files: big sequential writes, optionally bypassing the page cache ---- */
typedef struct tl_out tl_out_t;
/* Creates/truncates path for writing through a 4 MB buffer. direct: write with O_DIRECT (no page
 * cache: for outputs of gigabytes nobody reads at once), falling back to ordinary writes where
 * the file system refuses it. Returns NULL with msg naming the file on error. */
tl_out_t *tl_out_open(const char *path, bool direct, char *msg, size_t msglen);
/* Appends n bytes. Returns false once any write failed (the error is reported by tl_out_close). */
bool tl_out_write(tl_out_t *o, const void *data, size_t n);
/* Writes the buffer to o and empties it; returns false on a write error. */
bool jw_flush_out(jw_t *w, tl_out_t *o);
/* Writes what is buffered, closes and frees o (NULL: nothing). Returns 0, or -1 with msg
 * ("cannot write <what>: <reason>") when any write or the close failed. */
int tl_out_close(tl_out_t *o, char *msg, size_t msglen, const char *what);

/* ---- the canonical member record ---- */
enum cf_type { CT_STR, CT_TS, CT_DATE, CT_INT, CT_YESNO, CT_ACTIVE, CT_REWARDS, CT_SEGMENTS };
enum cf_id {
    CF_LOYALTY_ID, CF_AS_OF, CF_FIRST_NAME, CF_LAST_NAME, CF_EMAIL, CF_ACTIVE_STATUS, CF_BIRTHDAY,
    CF_ANNIVERSARY_DATE, CF_PHONE, CF_ZIP_CODE, CF_OPT_IN_STATUS, CF_OPT_IN_DATE, CF_OPT_OUT_DATE,
    CF_AVAILABLE_POINTS, CF_EARNED_POINTS, CF_USED_POINTS, CF_HOLD_POINTS, CF_NEXT_EXPIRING_POINTS,
    CF_POINTS_EXPIRATION_DATE, CF_EXPIRED_POINTS, CF_CURRENT_TIER, CF_NEXT_TIER,
    CF_POINTS_REQ_FOR_NEXT_TIER, CF_TIER_ACHIEVE_DATE, CF_AVAILABLE_REWARDS,
    CF_POINTS_REQ_FOR_NEXT_REWARD, CF_HIGHEST_AVAILABLE_REWARD, CF_FIRST_ACTIVITY_DATE,
    CF_LAST_ACTIVITY_DATE, CF_FIRST_PURCHASE_DATE, CF_LAST_PURCHASE_DATE, CF_SEGMENTS,
    CF_COUNT
};
typedef struct cf_def {
    const char *name;
    enum cf_type type;
} cf_def_t;
extern const cf_def_t tl_fields[CF_COUNT];

/* One member record. Strings are borrowed (arena or static) and never freed through the record.
 * present/isnull: bit per cf_id. Dates are days, timestamps seconds; available_rewards is the
 * names joined with " | "; segments is a bitmask over the segment name table (tl_segment_index).
 * bad_field >= 0 marks a field whose JSON value is malformed; bad_value is its raw JSON text.
 * long_strings lets the engine skip measuring strings when none is long. */
/* Strings of this many bytes or more are "long" (canon_t.long_strings). */
#define TL_LONG_STRING 200
typedef struct canon {
    uint64_t present, isnull;
    uint64_t segs;
    int bad_field;
    uint32_t long_strings; /* bit per cf_id: holds a long string; kept by canon_set_* (set fields only through them) */
    const char *bad_value;
    union {
        const char *s;
        int64_t n;
    } v[CF_COUNT];
} canon_t;

#define CANON_HAS(r, f) ((((r)->present) >> (f)) & 1u)
#define CANON_NULL(r, f) ((((r)->isnull) >> (f)) & 1u)
void canon_init(canon_t *r);
void canon_set_str(canon_t *r, int f, const char *s);
void canon_set_num(canon_t *r, int f, int64_t n);
void canon_set_null(canon_t *r, int f);
void canon_unset(canon_t *r, int f);

/* Index of a segment name in the process-wide table, adding it if new. Returns -1 when the
 * table (64 names) is full. Program segments are registered first, so index i maps to list 1002+i. */
int tl_segment_index(const char *name);
const char *tl_segment_name(int idx);
int tl_segment_count(void);

/* Serialises r as one canonical JSON member line (no newline) in the fixed key order. */
void canon_write(jw_t *w, const canon_t *r);
/* Fills r from a parsed JSON object (json_t *). Returns 0, or -1 with msg set when the record
 * cannot be read at all (not an object). Malformed field values set bad_field, not an error. */
int canon_from_json(canon_t *r, const void *json_object, char *msg, size_t msglen);

/* ---- the program: ladder, segments, rewards ---- */
#define TL_MAX_TIERS 16
#define TL_MAX_REWARDS 32
typedef struct program {
    int ntiers;
    const char *tier_name[TL_MAX_TIERS];
    int64_t tier_points[TL_MAX_TIERS];
    int nsegments; /* program segments = the first nsegments entries of the segment table */
    const char *segment_id[64];
    int nrewards;
    const char *reward_id[TL_MAX_REWARDS];
    const char *reward_name[TL_MAX_REWARDS];
    int64_t reward_points[TL_MAX_REWARDS];
} program_t;
/* Loads program.json. Returns 0, or -1 with msg naming the problem. */
int program_load(program_t *p, const char *path, char *msg, size_t msglen);
/* Ladder index of a tier name, or -1. */
int program_tier_index(const program_t *p, const char *name);

/* ---- the ground-truth engine ---- */
typedef struct truth_opts {
    const char *collection;    /* default annex_loyalty */
    int64_t close_threshold;   /* absolute points, or percent when close_percent */
    bool close_percent;
    bool direct_io;            /* write events/ometria/infobip with O_DIRECT (tl_out_open) */
} truth_opts_t;

typedef struct truth truth_t;
/* Creates an engine writing into out_dir (created if missing): dlq.jsonl is written as records
 * arrive, the rest by truth_finish. Returns NULL with msg on error. program must outlive it. */
truth_t *truth_create(const char *out_dir, const program_t *program, const truth_opts_t *opts, char *msg, size_t msglen);
/* Sizes the engine for about `members` members up front (optional: it grows as needed). */
void truth_reserve(truth_t *t, size_t members);
/* Feeds one member record in observation order. The record's strings must outlive the engine. */
void truth_feed_member(truth_t *t, const canon_t *rec);
/* Feeds a source-delivered event record (kind "event"): a json_t * whose reference the engine takes over (steals). */
void truth_feed_event(truth_t *t, void *json_event);
/* Writes events.jsonl, ometria.json and infobip.json. Returns 0 or -1 with msg. */
int truth_finish(truth_t *t, char *msg, size_t msglen);
/* Counts of derived events by type (8 entries, schema table order) and of DLQ lines. */
void truth_counts(const truth_t *t, uint64_t by_type[8], uint64_t *dlq);
extern const char *const tl_event_types[8];
/* Frees the engine and NULLs *tp. */
void truth_destroy(truth_t **tp);

#endif
