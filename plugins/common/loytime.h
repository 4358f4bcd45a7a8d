/* loytime.h: strict date/timestamp parsing and formatting shared by the
 * field-mapper and tier-event-deriver plugins (pure functions, no state).
 *
 * Days are counted from 1970-01-01 (day 0) in the proleptic Gregorian
 * calendar; timestamps are seconds since the Unix epoch, UTC. */
#ifndef SLUICE_LOYTIME_H
#define SLUICE_LOYTIME_H

#include <stdint.h>
#include <stddef.h>

/* Buffer sizes that always fit the formatted forms below. */
#define LOYTIME_DATE_LEN 16  /* "YYYY-MM-DD" + NUL, with room */
#define LOYTIME_TS_LEN 32    /* "YYYY-MM-DDTHH:MM:SSZ" + NUL, with room */

/* Days from 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31). */
int64_t loytime_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The civil date of day number `days`. */
void loytime_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* 1 if `y` is a leap year. */
int loytime_is_leap(int64_t y);

/* Parse a strict `YYYY-MM-DD` (the whole string, a real calendar day).
 * Returns 0 and sets *days, or -1. */
int loytime_parse_date(const char *text, int64_t *days);

/* Forms loytime_parse_time accepts besides a strict ISO 8601 timestamp
 * (flags, or-ed; 0 = that form alone). */
#define LOYTIME_DATE_ALONE 0x1u      /* `YYYY-MM-DD`: its midnight UTC */
#define LOYTIME_SPACE_SEPARATOR 0x2u /* `YYYY-MM-DD HH:MM:SS...`: a space
                                        for the 'T' (the zone still required) */

/* Parse an ISO 8601 timestamp `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|+HHMM|
 * -HH:MM|-HHMM|+HH)`, the whole string, and the other `forms` (LOYTIME_*
 * flags). The zone is required: a local time without one is ambiguous.
 * Fractions are truncated. Returns 0 and sets *epoch (UTC seconds), or -1
 * (*epoch untouched). */
int loytime_parse_time(const char *text, unsigned forms, int64_t *epoch);

/* loytime_parse_time(text, 0, epoch): a strict timestamp. 0 or -1. */
int loytime_parse_timestamp(const char *text, int64_t *epoch);

/* loytime_parse_time(text, LOYTIME_DATE_ALONE, epoch): either form, a
 * date meaning its midnight UTC. 0 or -1. */
int loytime_parse_date_or_timestamp(const char *text, int64_t *epoch);

/* Parse a zone: "UTC", "Z", "+01:00", "-0530", "+01". Returns 0 and sets
 * *offset_seconds (east positive), or -1. */
int loytime_parse_zone(const char *text, long *offset_seconds);

/* `days` + `years` years; 29 February falls on 28 February in a
 * non-leap target year. */
int64_t loytime_add_years(int64_t days, int64_t years);

/* Write `YYYY-MM-DD` of `days` into buf (>= LOYTIME_DATE_LEN). Returns buf. */
char *loytime_format_date(int64_t days, char *buf, size_t len);

/* Write `YYYY-MM-DDTHH:MM:SSZ` of `epoch` into buf (>= LOYTIME_TS_LEN). */
char *loytime_format_timestamp(int64_t epoch, char *buf, size_t len);

/* Floor division of an epoch to its UTC day number. */
int64_t loytime_day_of(int64_t epoch);
#endif
