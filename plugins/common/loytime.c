/* loytime.c: strict date/timestamp parsing and formatting (see loytime.h).
 * Calendar arithmetic uses Howard Hinnant's days_from_civil algorithms, so
 * no TZ environment or locale is ever consulted. */
#include <config.h>
#include <stdio.h>
#include <string.h>
#include "loytime.h"

int64_t loytime_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void loytime_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = (unsigned)(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int loytime_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned lengths[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && loytime_is_leap(y))
        return 29;
    return lengths[m - 1];
}

/* Read exactly `width` decimal digits from text into *out. 0 or -1. */
static int read_digits(const char *text, int width, int *out)
{
    int value = 0;
    for (int i = 0; i < width; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    *out = value;
    return 0;
}

/* Parse YYYY-MM-DD at the start of text (no check of what follows). */
static int parse_date_prefix(const char *text, int64_t *days)
{
    int y, m, d;
    if (read_digits(text, 4, &y) || text[4] != '-' || read_digits(text + 5, 2, &m) ||
        text[7] != '-' || read_digits(text + 8, 2, &d))
        return -1;
    if (m < 1 || m > 12 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)m))
        return -1;
    *days = loytime_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int loytime_parse_date(const char *text, int64_t *days)
{
    if (!text || strlen(text) != 10)
        return -1;
    return parse_date_prefix(text, days);
}

int loytime_parse_zone(const char *text, long *offset_seconds)
{
    int hours = 0, minutes = 0;
    size_t len;
    if (!text)
        return -1;
    if (strcmp(text, "UTC") == 0 || strcmp(text, "Z") == 0 || strcmp(text, "GMT") == 0) {
        *offset_seconds = 0;
        return 0;
    }
    len = strlen(text);
    if (len < 3 || (text[0] != '+' && text[0] != '-') || read_digits(text + 1, 2, &hours))
        return -1;
    if (len == 6 && text[3] == ':') {
        if (read_digits(text + 4, 2, &minutes))
            return -1;
    } else if (len == 5) {
        if (read_digits(text + 3, 2, &minutes))
            return -1;
    } else if (len != 3) {
        return -1;
    }
    if (hours > 23 || minutes > 59)
        return -1;
    *offset_seconds = (hours * 3600L + minutes * 60L) * (text[0] == '-' ? -1 : 1);
    return 0;
}

int loytime_parse_time(const char *text, unsigned forms, int64_t *epoch)
{
    int64_t days;
    int hh, mi, ss;
    long offset = 0;
    const char *p;

    if (!text)
        return -1;
    if ((forms & LOYTIME_DATE_ALONE) && strlen(text) == 10) {
        if (loytime_parse_date(text, &days))
            return -1;
        *epoch = days * 86400;
        return 0;
    }
    if (strlen(text) < 19 || parse_date_prefix(text, &days))
        return -1;
    if (!(text[10] == 'T' || (text[10] == ' ' && (forms & LOYTIME_SPACE_SEPARATOR))) ||
        read_digits(text + 11, 2, &hh) || text[13] != ':' || read_digits(text + 14, 2, &mi) ||
        text[16] != ':' || read_digits(text + 17, 2, &ss))
        return -1;
    if (hh > 23 || mi > 59 || ss > 60)
        return -1;
    p = text + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z') {
        if (p[1] != '\0')
            return -1;
    } else if (*p == '+' || *p == '-') {
        if (loytime_parse_zone(p, &offset) != 0)
            return -1;
    } else {
        return -1; /* no zone, or a zone name: ambiguous, refused */
    }
    *epoch = days * 86400 + hh * 3600 + mi * 60 + ss - offset;
    return 0;
}

int loytime_parse_timestamp(const char *text, int64_t *epoch)
{
    return loytime_parse_time(text, 0, epoch);
}

int loytime_parse_date_or_timestamp(const char *text, int64_t *epoch)
{
    return loytime_parse_time(text, LOYTIME_DATE_ALONE, epoch);
}

int64_t loytime_add_years(int64_t days, int64_t years)
{
    int64_t y;
    unsigned m, d;
    loytime_civil_from_days(days, &y, &m, &d);
    y += years;
    if (m == 2 && d == 29 && !loytime_is_leap(y))
        d = 28;
    return loytime_days_from_civil(y, m, d);
}

int64_t loytime_day_of(int64_t epoch)
{
    return epoch >= 0 ? epoch / 86400 : -((-epoch + 86399) / 86400);
}

/* Two decimal digits of v (0..99) at out. */
static void put_2digits(char *out, unsigned v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

/* The dates and times of derived events are formatted several times per
 * record: the common case (years 0..9999, a buffer that fits) is written
 * without printf, whose format parsing was ~4% of the deriver's process(). */
char *loytime_format_date(int64_t days, char *buf, size_t len)
{
    int64_t y;
    unsigned m, d;
    loytime_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || len < 11) {
        snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
        return buf;
    }
    put_2digits(buf, (unsigned)(y / 100));
    put_2digits(buf + 2, (unsigned)(y % 100));
    buf[4] = '-';
    put_2digits(buf + 5, m);
    buf[7] = '-';
    put_2digits(buf + 8, d);
    buf[10] = '\0';
    return buf;
}

char *loytime_format_timestamp(int64_t epoch, char *buf, size_t len)
{
    int64_t days = loytime_day_of(epoch);
    int64_t secs = epoch - days * 86400;
    int64_t y;
    unsigned m, d;
    if (len >= 21 && loytime_format_date(days, buf, len) && buf[10] == '\0') {
        buf[10] = 'T';
        put_2digits(buf + 11, (unsigned)(secs / 3600));
        buf[13] = ':';
        put_2digits(buf + 14, (unsigned)(secs / 60 % 60));
        buf[16] = ':';
        put_2digits(buf + 17, (unsigned)(secs % 60));
        buf[19] = 'Z';
        buf[20] = '\0';
        return buf;
    }
    loytime_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    return buf;
}
