/* config_text.c: a scanner of libconfig's lexical rules over a pipeline
 * file's text, for what libconfig's parse does not say: where a setting
 * starts and ends, the @include before a line, the first place of a
 * setting in a group, and hints for syntax errors (config_text.h). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_text.h"

#define DEPTH_MAX 64

typedef enum token_kind {
    TOK_END = 0,
    TOK_IDENT,   /* a name, or true/false */
    TOK_STRING,  /* "..." */
    TOK_VALUE,   /* a number or anything else that is a value */
    TOK_OPEN,    /* { ( [ */
    TOK_CLOSE,   /* } ) ] */
    TOK_ASSIGN,  /* = : */
    TOK_SEP,     /* ; , */
    TOK_INCLUDE  /* @include */
} token_kind;

typedef struct token {
    token_kind kind;
    size_t start, end; /* bytes of the text */
    int line;
    char ch;           /* the bracket or separator */
} token;

typedef struct scanner {
    const char *text;
    size_t pos;
    int line;
} scanner;

/* 1 if `c` is one of the characters of `set` (never the NUL ending the
 * text: strchr would find the set's own terminator). */
static int in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

/* Skip blanks and comments (#, //, C comments), counting lines. */
static void skip_space(scanner *sc)
{
    const char *t = sc->text;

    for (;;) {
        char c = t[sc->pos];
        if (c == '\n') {
            sc->line++;
            sc->pos++;
        } else if (isspace((unsigned char)c)) {
            sc->pos++;
        } else if (c == '#' || (c == '/' && t[sc->pos + 1] == '/')) {
            while (t[sc->pos] && t[sc->pos] != '\n')
                sc->pos++;
        } else if (c == '/' && t[sc->pos + 1] == '*') {
            sc->pos += 2;
            while (t[sc->pos] && !(t[sc->pos] == '*' && t[sc->pos + 1] == '/')) {
                if (t[sc->pos] == '\n')
                    sc->line++;
                sc->pos++;
            }
            if (t[sc->pos])
                sc->pos += 2;
        } else {
            return;
        }
    }
}

/* The next token of sc into *tok. Returns tok->kind (TOK_END at the end). */
static token_kind next_token(scanner *sc, token *tok)
{
    const char *t = sc->text;
    char c;

    skip_space(sc);
    tok->start = sc->pos;
    tok->line = sc->line;
    c = t[sc->pos];
    tok->ch = c;
    if (c == '\0') {
        tok->kind = TOK_END;
    } else if (c == '"') {
        sc->pos++;
        while (t[sc->pos] && t[sc->pos] != '"' && t[sc->pos] != '\n')
            sc->pos += t[sc->pos] == '\\' && t[sc->pos + 1] ? 2 : 1;
        if (t[sc->pos] == '"')
            sc->pos++;
        tok->kind = TOK_STRING;
    } else if (c == '@' && strncmp(t + sc->pos, "@include", 8) == 0) {
        sc->pos += 8;
        tok->kind = TOK_INCLUDE;
    } else if (isalpha((unsigned char)c) || c == '*') {
        while (isalnum((unsigned char)t[sc->pos]) || in_set(t[sc->pos], "_-*"))
            sc->pos++;
        tok->kind = TOK_IDENT;
    } else if (in_set(c, "{([")) {
        sc->pos++;
        tok->kind = TOK_OPEN;
    } else if (in_set(c, "})]")) {
        sc->pos++;
        tok->kind = TOK_CLOSE;
    } else if (c == '=' || c == ':') {
        sc->pos++;
        tok->kind = TOK_ASSIGN;
    } else if (c == ';' || c == ',') {
        sc->pos++;
        tok->kind = TOK_SEP;
    } else {
        sc->pos++;
        while (isalnum((unsigned char)t[sc->pos]) || in_set(t[sc->pos], ".+-_"))
            sc->pos++;
        tok->kind = TOK_VALUE;
    }
    tok->end = sc->pos;
    return tok->kind;
}

/* 1 if a token of this kind ends a value. */
static int ends_value(const token *tok)
{
    return tok->kind == TOK_STRING || tok->kind == TOK_VALUE || tok->kind == TOK_IDENT ||
           tok->kind == TOK_CLOSE;
}

/* 1 if a token of this kind starts a value. */
static int starts_value(const token *tok)
{
    return tok->kind == TOK_STRING || tok->kind == TOK_VALUE || tok->kind == TOK_OPEN ||
           (tok->kind == TOK_IDENT && (tolower((unsigned char)tok->ch) == 't' ||
                                       tolower((unsigned char)tok->ch) == 'f'));
}

/* A scanner that keeps the bracket stack: where a token stands (a group
 * or a list) and whether the one before it names a setting. */
typedef struct walker {
    scanner sc;
    token tok, prev;
    char stack[DEPTH_MAX]; /* open brackets; empty: the top level (a group) */
    int depth;
} walker;

static void walker_init(walker *w, const char *text)
{
    memset(w, 0, sizeof(*w));
    w->sc.text = text;
    w->sc.line = 1;
}

/* Advance to the next token, keeping the bracket stack. Returns its kind. */
static token_kind walker_step(walker *w)
{
    w->prev = w->tok;
    next_token(&w->sc, &w->tok);
    if (w->prev.kind == TOK_OPEN && w->depth < DEPTH_MAX)
        w->stack[w->depth++] = w->prev.ch;
    if (w->prev.kind == TOK_CLOSE && w->depth > 0)
        w->depth--;
    return w->tok.kind;
}

/* 1 if the walker's previous token is a setting's name in a group. */
static int at_setting(const walker *w)
{
    return w->tok.kind == TOK_ASSIGN && w->prev.kind == TOK_IDENT &&
           (w->depth == 0 || w->stack[w->depth - 1] == '{');
}

int cfgtext_setting_at(const char *text, int line, int nth, char *name, size_t len,
                       size_t *start, size_t *end)
{
    walker w;

    walker_init(&w, text);
    while (walker_step(&w) != TOK_END) {
        int level = 0;
        if (!at_setting(&w) || w.prev.line != line || nth-- > 0)
            continue;
        snprintf(name, len, "%.*s", (int)(w.prev.end - w.prev.start), text + w.prev.start);
        *start = w.prev.start;
        *end = strlen(text);
        while (next_token(&w.sc, &w.tok) != TOK_END) {
            if (w.tok.kind == TOK_OPEN) {
                level++;
            } else if (w.tok.kind == TOK_CLOSE) {
                if (level-- == 0) {
                    *end = w.tok.start;
                    break;
                }
            } else if (w.tok.kind == TOK_SEP && level == 0) {
                *end = w.tok.end;
                break;
            }
        }
        return 0;
    }
    return -1;
}

int cfgtext_include_before(const char *text, size_t offset, char *include, size_t len,
                           int *line)
{
    walker w;
    size_t name_start[DEPTH_MAX + 1] = {0}, name_end[DEPTH_MAX + 1] = {0};
    int name_line[DEPTH_MAX + 1] = {0};

    walker_init(&w, text);
    while (walker_step(&w) != TOK_END && w.tok.start < offset) {
        if (w.prev.kind == TOK_OPEN)
            name_line[w.depth] = 0; /* a new group: nothing included yet */
        if (w.prev.kind == TOK_INCLUDE && w.tok.kind == TOK_STRING) {
            name_start[w.depth] = w.tok.start + 1;
            name_end[w.depth] = w.tok.end > w.tok.start + 1 ? w.tok.end - 1 : w.tok.end;
            name_line[w.depth] = w.tok.line;
        }
    }
    if (name_line[w.depth] == 0)
        return -1;
    snprintf(include, len, "%.*s", (int)(name_end[w.depth] - name_start[w.depth]),
             text + name_start[w.depth]);
    *line = name_line[w.depth];
    return 0;
}

int cfgtext_setting_line(const char *text, const char *name, size_t offset)
{
    walker w;
    int found[DEPTH_MAX + 1] = {0};
    size_t name_len = strlen(name);

    walker_init(&w, text);
    while (walker_step(&w) != TOK_END) {
        if (offset != (size_t)-1 && w.tok.start >= offset)
            break;
        if (w.prev.kind == TOK_OPEN)
            found[w.depth] = 0;
        if (at_setting(&w) && w.prev.end - w.prev.start == name_len &&
            strncmp(text + w.prev.start, name, name_len) == 0 && !found[w.depth]) {
            found[w.depth] = w.prev.line;
            if (offset == (size_t)-1 && w.depth == 0)
                return found[0];
        }
    }
    return offset == (size_t)-1 ? 0 : found[w.depth];
}

/* Check that the brackets of `text` pair up. Returns 0, or -1 with what
 * is wrong in hint. */
static int bracket_hint(const char *text, char *hint, size_t len)
{
    scanner sc = {text, 0, 1};
    token tok;
    char open[DEPTH_MAX];
    int open_line[DEPTH_MAX];
    int depth = 0;
    static const char *const pairs = "{}()[]";

    while (next_token(&sc, &tok) != TOK_END) {
        if (tok.kind == TOK_OPEN && depth < DEPTH_MAX) {
            open[depth] = tok.ch;
            open_line[depth++] = tok.line;
        } else if (tok.kind == TOK_CLOSE) {
            if (depth == 0) {
                snprintf(hint, len, "'%c' on line %d closes nothing", tok.ch, tok.line);
                return -1;
            }
            depth--;
            if (strchr(pairs, open[depth])[1] != tok.ch) {
                snprintf(hint, len, "'%c' on line %d does not close the '%c' opened on line %d",
                         tok.ch, tok.line, open[depth], open_line[depth]);
                return -1;
            }
        }
    }
    if (depth > 0) {
        snprintf(hint, len, "the '%c' opened on line %d is never closed", open[depth - 1],
                 open_line[depth - 1]);
        return -1;
    }
    return 0;
}

int cfgtext_syntax_hint(const char *text, int line, char *hint, size_t len)
{
    walker w;

    if (bracket_hint(text, hint, len) != 0)
        return 0;
    walker_init(&w, text);
    while (walker_step(&w) != TOK_END) {
        int in_list = w.depth > 0 && w.stack[w.depth - 1] != '{';
        if (w.tok.line < line || w.prev.kind == TOK_END)
            continue;
        /* the first token of the error's line after a value, in a list */
        if (in_list && ends_value(&w.prev) && starts_value(&w.tok) &&
            !(w.prev.kind == TOK_STRING && w.tok.kind == TOK_STRING)) {
            snprintf(hint, len, "missing ',' between the elements of the %s on lines %d and %d",
                     w.stack[w.depth - 1] == '(' ? "list" : "array", w.prev.line, w.tok.line);
            return 0;
        }
        if (!in_list && w.tok.kind == TOK_OPEN && w.prev.kind == TOK_CLOSE) {
            snprintf(hint, len, "a value where a setting was expected on line %d (a missing "
                     "'name =', or a group written outside its list)", w.tok.line);
            return 0;
        }
        break;
    }
    return -1;
}

void cfgtext_blank(char *text, size_t start, size_t end)
{
    for (size_t i = start; i < end && text[i]; i++) {
        if (text[i] != '\n')
            text[i] = ' ';
    }
}
