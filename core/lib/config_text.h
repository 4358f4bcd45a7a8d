/* config_text.h: reading a pipeline file's text where libconfig's parse
 * says too little: where a setting starts and ends, which @include a group
 * holds before a line, a setting's first place in a group, and what a
 * syntax error probably is. A small scanner of libconfig's lexical rules
 * (strings with escapes, #, // and C comments, brackets); it never
 * evaluates values. Private to core/lib (config_read.c). */
#ifndef SLUICE_CONFIG_TEXT_H
#define SLUICE_CONFIG_TEXT_H

#include <stddef.h>

/* The `nth` setting (0-based) that starts on line `line` (1-based) of
 * `text`: its name into name (len bytes), and the byte range [*start,
 * *end) from its name through the ';' or ',' that ends it (or up to the
 * '}' or ')' closing its group). Returns 0, or -1 when there is none. */
int cfgtext_setting_at(const char *text, int line, int nth, char *name, size_t len,
                       size_t *start, size_t *end);

/* The last @include written in the group that holds byte `offset` of
 * `text`, before that offset: its name as written into include (len
 * bytes) and its line into *line. Returns 0, or -1 when there is none. */
int cfgtext_include_before(const char *text, size_t offset, char *include, size_t len,
                           int *line);

/* The line of the first setting named `name` at the group depth of byte
 * `offset` and in the same group, before that offset; or, with offset
 * (size_t)-1, the first setting `name` at the top level of `text` (a
 * fragment). Returns the line, or 0 when there is none. */
int cfgtext_setting_line(const char *text, const char *name, size_t offset);

/* What a libconfig "syntax error" at line `line` of `text` probably is,
 * as a short hint into hint (len bytes): a missing ',' between list or
 * array elements, a missing ';' after a setting, a bracket never closed
 * or closing nothing. Returns 0 with the hint, or -1 when none applies. */
int cfgtext_syntax_hint(const char *text, int line, char *hint, size_t len);

/* Replace every byte of text[start, end) but newlines with spaces (lines
 * keep their numbers). */
void cfgtext_blank(char *text, size_t start, size_t end);
#endif
