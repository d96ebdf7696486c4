/* The text-template compiler.
 *
 * Template syntax:
 *   {{ expr }}   appends tostring(expr); nil appends nothing
 *   {% code %}   raw Lua: {% for _, a in ipairs(firing) do %} ... {% end %}
 * A line holding only {% %} tags and whitespace produces no output at all
 * (Jinja's trim_blocks + lstrip_blocks), so block structure can sit on its
 * own lines. Tags end at the first "}}" / "%}" that is outside Lua string
 * literals, long brackets and "{ }" nesting, so {{ "}}" }} and
 * {{ f({a = {1}}) }} work. A trailing "-- comment" inside a tag is dropped.
 * To output a literal "{{", write {{ "{{" }}.
 *
 * The generated chunk keeps every template line on the same Lua line, so
 * Lua's own error messages ("name:12: attempt to index a nil value") point
 * at the template text. */
#include "lua/template.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strbuf.h"

typedef enum piece_kind { PIECE_TEXT, PIECE_NEWLINE, PIECE_EXPR, PIECE_CODE } piece_kind;

typedef struct piece {
    piece_kind kind;
    size_t start, len;
} piece;

typedef struct piece_list {
    piece *items;
    size_t count, cap;
} piece_list;

static void add_piece(piece_list *list, piece_kind kind, size_t start, size_t len)
{
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 64;
        list->items = xrealloc(list->items, list->cap * sizeof *list->items);
    }
    list->items[list->count++] = (piece){kind, start, len};
}

/* Text between tags, split so each newline is its own piece. */
static void add_text(piece_list *list, const char *text, size_t start, size_t end)
{
    while (start < end) {
        const char *newline = memchr(text + start, '\n', end - start);
        size_t stop = newline ? (size_t)(newline - text) : end;
        if (stop > start)
            add_piece(list, PIECE_TEXT, start, stop - start);
        if (!newline)
            break;
        add_piece(list, PIECE_NEWLINE, stop, 1);
        start = stop + 1;
    }
}

/* At text[pos] == '[': the level of a long bracket "[==[" opening here, or
 * -1 when this is a plain '['. */
static int long_bracket_level(const char *text, size_t len, size_t pos)
{
    size_t p = pos + 1;
    while (p < len && text[p] == '=')
        p++;
    return p < len && text[p] == '[' ? (int)(p - pos - 1) : -1;
}

/* Past the long bracket opening at pos, or len when it never closes. */
static size_t skip_long_bracket(const char *text, size_t len, size_t pos, int level)
{
    for (size_t p = pos + (size_t)level + 2; p < len; p++) {
        if (text[p] != ']')
            continue;
        size_t q = p + 1;
        while (q < len && text[q] == '=')
            q++;
        if (q < len && text[q] == ']' && (int)(q - p - 1) == level)
            return q + 1;
    }
    return len;
}

/* Scans the Lua code of a tag starting at pos for its closer ("}}" when
 * closer_first is '}', "%}" when it is '%'). Sets *code_end (excluding a
 * trailing line comment) and *after (past the closer). */
static bool scan_tag(const char *text, size_t len, size_t pos, char closer_first,
                     size_t *code_end, size_t *after)
{
    int depth = 0;
    bool in_line_comment = false;
    size_t comment_start = 0;
    while (pos < len) {
        char c = text[pos];
        bool at_closer = depth == 0 && c == closer_first && pos + 1 < len && text[pos + 1] == '}';
        if (at_closer) {
            *code_end = in_line_comment ? comment_start : pos;
            *after = pos + 2;
            return true;
        }
        if (in_line_comment) {
            in_line_comment = c != '\n';
            pos++;
        } else if (c == '"' || c == '\'') {
            /* A raw newline ends the (then malformed) string, so one bad
             * quote does not swallow the rest of the template; Lua reports
             * the string itself. */
            for (pos++; pos < len && text[pos] != c && text[pos] != '\n'; pos++)
                if (text[pos] == '\\')
                    pos++;
            pos++;
        } else if (c == '[' && long_bracket_level(text, len, pos) >= 0) {
            pos = skip_long_bracket(text, len, pos, long_bracket_level(text, len, pos));
        } else if (c == '-' && pos + 1 < len && text[pos + 1] == '-') {
            if (pos + 2 < len && text[pos + 2] == '[' && long_bracket_level(text, len, pos + 2) >= 0) {
                pos = skip_long_bracket(text, len, pos + 2, long_bracket_level(text, len, pos + 2));
            } else {
                in_line_comment = true;
                comment_start = pos;
                pos += 2;
            }
        } else {
            if (c == '{')
                depth++;
            else if (c == '}' && depth > 0)
                depth--;
            pos++;
        }
    }
    return false;
}

static unsigned line_of(const char *text, size_t pos)
{
    unsigned line = 1;
    for (size_t i = 0; i < pos; i++)
        line += text[i] == '\n';
    return line;
}

static int tokenize(const char *name, const char *text, size_t len, piece_list *pieces,
                    char *err, size_t err_cap)
{
    size_t text_start = 0, pos = 0;
    while (pos + 1 < len) {
        if (text[pos] != '{' || (text[pos + 1] != '{' && text[pos + 1] != '%')) {
            pos++;
            continue;
        }
        bool is_expr = text[pos + 1] == '{';
        size_t code_end, after;
        if (!scan_tag(text, len, pos + 2, is_expr ? '}' : '%', &code_end, &after))
            return fail(err, err_cap, "%s:%u: unterminated %s tag (no closing %s)", name,
                        line_of(text, pos), is_expr ? "{{" : "{%", is_expr ? "}}" : "%}");
        add_text(pieces, text, text_start, pos);
        size_t code_start = pos + 2;
        bool empty = true;
        for (size_t i = code_start; i < code_end; i++)
            empty = empty && isspace((unsigned char)text[i]);
        if (is_expr && empty)
            return fail(err, err_cap, "%s:%u: empty {{ }} expression", name, line_of(text, pos));
        /* A dropped trailing line comment holds no newline, so dropping it
         * keeps the line alignment. */
        add_piece(pieces, is_expr ? PIECE_EXPR : PIECE_CODE, code_start, code_end - code_start);
        pos = text_start = after;
    }
    add_text(pieces, text, text_start, len);
    return 0;
}

static void append_lua_string(strbuf *out, const char *text, size_t len)
{
    sb_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            sb_printf(out, "\\%c", c);
        else if (c == '\n')
            sb_puts(out, "\\n");
        else if (c < 0x20 || c == 0x7f)
            sb_printf(out, "\\%03u", c); /* three digits: a following digit stays literal */
        else
            sb_putc(out, (char)c);
    }
    sb_putc(out, '"');
}

/* The generated code as it is written: output text not yet emitted,
 * template newlines the code still owes so that the next tag's code lands
 * on its own template line, the run call left open for more texts and
 * plain names, or the {{ }} expression waiting for the text that follows
 * it (never both).
 *
 * Every statement starts on the line it would start on if each piece
 * were a call of its own, so a syntax error after a stray {% end %} names
 * the line it names with the pieces apart. A run's call stays open across
 * template lines, with the newlines between its arguments, so each name
 * is evaluated on its own line and an error in it names that line; an
 * error the output raises itself (a __tostring that fails) names the line
 * the run began on. */
typedef struct emitter {
    strbuf code;
    strbuf text;
    unsigned newlines;
    unsigned run_args; /* 0: no run call open */
    const char *held;  /* NULL: no expression waiting */
    size_t held_len;
} emitter;

/* Lua gives a call's arguments registers of their own, 255 at most. */
#define RUN_MAX_ARGS 16

static void run_close(emitter *e)
{
    if (e->run_args)
        sb_puts(&e->code, ");");
    e->run_args = 0;
}

/* Opens a run call, or adds to the open one, for one more argument. */
static void run_add(emitter *e)
{
    if (e->run_args == RUN_MAX_ARGS)
        run_close(e);
    sb_puts(&e->code, e->run_args ? ", " : "__h_run(__h_out, ");
    e->run_args++;
}

/* The waiting expression goes out with the text after it, or the text
 * joins the line's run. */
static void flush_text(emitter *e)
{
    if (e->held) {
        sb_puts(&e->code, "__h_append(__h_out, ");
        if (e->text.len)
            append_lua_string(&e->code, e->text.data, e->text.len);
        else
            sb_puts(&e->code, "nil");
        sb_puts(&e->code, ", ");
        sb_append(&e->code, e->held, e->held_len);
        sb_puts(&e->code, ");");
        e->held = NULL;
    } else if (e->text.len) {
        run_add(e);
        append_lua_string(&e->code, e->text.data, e->text.len);
    }
    sb_reset(&e->text);
}

static void emit_newlines(emitter *e)
{
    for (; e->newlines; e->newlines--)
        sb_putc(&e->code, '\n');
}

/* Outputs what waits and moves the code down to the template's line. */
static void flush_line(emitter *e)
{
    flush_text(e);
    run_close(e);
    emit_newlines(e);
}

static bool begins_lua_name(char c) { return isalpha((unsigned char)c) || c == '_'; }

static size_t skip_blanks(const char *text, size_t at, size_t end)
{
    while (at < end && (text[at] == ' ' || text[at] == '\t'))
        at++;
    return at;
}

/* A plain name or field path ("title", "a.generatorURL", "#firing"): it
 * yields one value and calls no function of the template's, so it can
 * share a run with the text around it. */
static bool is_plain_name(const char *text, size_t len)
{
    size_t at = skip_blanks(text, 0, len);
    if (at < len && text[at] == '#')
        at = skip_blanks(text, at + 1, len);
    for (;;) {
        if (at == len || !begins_lua_name(text[at]))
            return false;
        while (at < len && (begins_lua_name(text[at]) || isdigit((unsigned char)text[at])))
            at++;
        at = skip_blanks(text, at, len);
        if (at == len)
            return true;
        if (text[at] != '.')
            return false;
        at = skip_blanks(text, at + 1, len);
    }
}

static void emit_expr(emitter *e, const char *expr, size_t len)
{
    flush_text(e);
    if (is_plain_name(expr, len)) {
        emit_newlines(e);
        run_add(e);
        sb_append(&e->code, expr, len);
        return;
    }
    /* Anything else may call a function that outputs (a template's own
     * macro), so what precedes it goes out first, in a call of its own;
     * the text after it can go with it. */
    run_close(e);
    emit_newlines(e);
    e->held = expr;
    e->held_len = len;
}

static bool is_blank(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\v' && text[i] != '\f')
            return false;
    return true;
}

/* Everything before the body sits on line 1 so body lines keep their
 * numbers. Names resolve to template locals, then fields of data, then the
 * sandbox globals; assignments to undeclared names stay in a per-call table
 * instead of leaking into the shared globals. A name found among the
 * globals is kept in that per-call table, so the rest of the render reads
 * it without the lookup function (`herald` is read once per row). */
static const char prologue[] =
    "local __h_output, __h_append, __h_run, __h_finish = ...; "
    "local __h_setmetatable, __h_rawset, __h_G = setmetatable, rawset, _ENV; "
    "return function(data) "
    "local __h_out = __h_output(); "
    "local __h_data = data or {}; "
    "local _ENV = __h_setmetatable({}, {__index = function(env, key) local value = __h_data[key]; "
    "if value == nil then value = __h_G[key]; if value ~= nil then __h_rawset(env, key, value) end "
    "end; return value end}); ";

static const char epilogue[] = " return __h_finish(__h_out) end\n";

int template_to_lua(const char *name, const char *text, size_t len, char **lua_out,
                    char *err, size_t err_cap)
{
    *lua_out = NULL;
    piece_list pieces = {NULL, 0, 0};
    if (tokenize(name, text, len, &pieces, err, err_cap)) {
        free(pieces.items);
        return -1;
    }
    emitter e = {STRBUF_INIT, STRBUF_INIT, 0, 0, NULL, 0};
    sb_puts(&e.code, prologue);
    for (size_t first = 0; first < pieces.count;) {
        size_t last = first; /* the line is pieces[first..last] */
        while (last + 1 < pieces.count && pieces.items[last].kind != PIECE_NEWLINE)
            last++;
        bool has_code = false, only_code = true;
        for (size_t i = first; i <= last; i++) {
            const piece *p = &pieces.items[i];
            has_code = has_code || p->kind == PIECE_CODE;
            if (p->kind == PIECE_EXPR || (p->kind == PIECE_TEXT && !is_blank(text + p->start, p->len)))
                only_code = false;
        }
        bool tag_only_line = has_code && only_code;
        for (size_t i = first; i <= last; i++) {
            const piece *p = &pieces.items[i];
            switch (p->kind) {
            case PIECE_TEXT:
                if (!tag_only_line)
                    sb_append(&e.text, text + p->start, p->len);
                break;
            case PIECE_NEWLINE:
                if (!tag_only_line)
                    sb_putc(&e.text, '\n');
                e.newlines++;
                break;
            case PIECE_EXPR:
                emit_expr(&e, text + p->start, p->len);
                break;
            case PIECE_CODE:
                flush_line(&e);
                sb_append(&e.code, text + p->start, p->len);
                sb_putc(&e.code, ';');
                break;
            }
        }
        first = last + 1;
    }
    /* Trailing newlines only matter as output; the epilogue may follow on
     * the same code line. */
    e.newlines = 0;
    flush_line(&e);
    sb_puts(&e.code, epilogue);
    sb_free(&e.text);
    free(pieces.items);
    *lua_out = sb_take(&e.code);
    return 0;
}
