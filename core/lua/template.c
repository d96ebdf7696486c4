/* The text-template compiler and the `herald` helper table templates use.
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
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua/action_helper.h"
#include "lua/isolate.h"
#include "lua/sandbox.h"
#include "lua/template_output.h"
#include "lua/tz.h"
#include "util/error.h"
#include "util/strbuf.h"

/* ---- compiler ----------------------------------------------------------- */

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
 * on its own template line, the run call left open for more pieces of the
 * same line, or the {{ }} expression waiting for the text that follows
 * it (never both). */
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

/* With nothing waiting to be output, the code can move down to the
 * template's line at once, and the line's text and names share a run. */
static void settle(emitter *e)
{
    if (!e->held && !e->text.len && !e->run_args)
        emit_newlines(e);
}

static bool is_name_start(char c) { return isalpha((unsigned char)c) || c == '_'; }

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
        if (at == len || !is_name_start(text[at]))
            return false;
        while (at < len && (is_name_start(text[at]) || isdigit((unsigned char)text[at])))
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
    settle(e);
    flush_text(e);
    if (e->newlines)
        flush_line(e);
    if (is_plain_name(expr, len)) {
        run_add(e);
        sb_append(&e->code, expr, len);
        return;
    }
    /* Anything else may call a function that outputs (a template's own
     * macro), so what precedes it goes out first, in a call of its own;
     * the text after it can go with it. */
    run_close(e);
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
                if (!tag_only_line) {
                    settle(&e);
                    sb_append(&e.text, text + p->start, p->len);
                }
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

/* ---- helpers ------------------------------------------------------------ */

#define DEFAULT_TIME_FORMAT "%Y-%m-%d %H:%M:%S"
#define DEFAULT_TRUNCATE_MARK "\xe2\x80\xa6" /* … */
/* Beyond ±10^13 s (300,000 years) an epoch is a bug, not a date. */
#define MAX_EPOCH 1e13
#define MAX_TIME_OUTPUT 65536

/* herald.time(epoch [, fmt]): nil gives "" so absent endsAt prints
 * nothing; fractions of a second are dropped. */
static int helper_time(lua_State *L)
{
    const tz_zone *zone = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    int is_number;
    lua_Number epoch = lua_tonumberx(L, 1, &is_number);
    if (!is_number)
        return luaL_argerror(L, 1, "epoch seconds expected");
    if (!(epoch >= -MAX_EPOCH && epoch <= MAX_EPOCH))
        return luaL_argerror(L, 1, "epoch out of range");
    const char *fmt = luaL_optstring(L, 2, DEFAULT_TIME_FORMAT);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    /* strftime cannot say how much room it needs; grow until it fits. An
     * empty result for a non-empty format is taken as "too small" until the
     * cap, which only formats like "%p" in some locales hit. */
    for (size_t cap = 256; fmt[0] && cap <= MAX_TIME_OUTPUT; cap *= 4) {
        char *room = luaL_prepbuffsize(&buffer, cap);
        size_t written = tz_format(zone, (int64_t)floor(epoch), fmt, room, cap);
        if (written) {
            luaL_addsize(&buffer, written);
            break;
        }
    }
    luaL_pushresult(&buffer);
    return 1;
}

/* herald.truncate(s, n [, mark]): at most n bytes including the mark; the
 * cut never splits a UTF-8 sequence (it may split a grapheme cluster such
 * as a flag or a ZWJ emoji). When even the mark does not fit, s is cut to n
 * bytes without it. */
static int helper_truncate(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t len, mark_len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer limit = luaL_checkinteger(L, 2);
    const char *mark = luaL_optlstring(L, 3, DEFAULT_TRUNCATE_MARK, &mark_len);
    luaL_argcheck(L, limit >= 0, 2, "must not be negative");
    if ((lua_Unsigned)limit >= len) {
        lua_pushlstring(L, s, len);
        return 1;
    }
    if (mark_len > (size_t)limit)
        mark_len = 0;
    size_t keep = (size_t)limit - mark_len;
    /* s[keep] is the first byte dropped; a continuation byte there means
     * the kept part would end inside a sequence (at most 3 bytes back). */
    for (int step = 0; step < 3 && keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80; step++)
        keep--;
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addlstring(&buffer, s, keep);
    luaL_addlstring(&buffer, mark, mark_len);
    luaL_pushresult(&buffer);
    return 1;
}

/* herald.md_escape(s): backslash-escapes what CommonMark would otherwise
 * read as markup, and nothing more, so text stays readable in renderers
 * that show backslashes:
 *   anywhere:         \ ` * _ [ ] <   (emphasis, code, links, HTML)
 *   at a line start:  # > + - =       (headings, quotes, lists, rules)
 *                     the "." or ")" of "1. " / "1) "  (ordered lists)
 * Characters that only matter next to an escaped one ( ! ( ) ) and those
 * CommonMark never treats specially ( { } . | ) are left alone. */
static bool escaped_anywhere(unsigned char c)
{
    return c == '\\' || c == '`' || c == '*' || c == '_' || c == '[' || c == ']' || c == '<';
}

static bool block_mark(unsigned char c)
{
    return c == '#' || c == '>' || c == '+' || c == '-' || c == '=';
}

/* Whether s needs no escape at all, the common case: it is then returned
 * as it is, without a copy. */
static bool plain_markdown(const char *s, size_t len)
{
    bool line_start = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (escaped_anywhere(c) || (line_start && (block_mark(c) || isdigit(c))))
            return false;
        line_start = c == '\n' || (line_start && (c == ' ' || c == '\t'));
    }
    return true;
}

static int helper_md_escape(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_markdown(s, len)) {
        lua_settop(L, 1);
        return 1;
    }
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    bool line_start = true; /* only indentation seen on this line so far */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' || (line_start && (c == ' ' || c == '\t'))) {
            line_start = c == '\n' || line_start;
            luaL_addchar(&buffer, c);
            continue;
        }
        if (line_start && block_mark((unsigned char)c)) {
            luaL_addchar(&buffer, '\\');
        } else if (line_start && isdigit((unsigned char)c)) {
            size_t end = i;
            while (end < len && isdigit((unsigned char)s[end]))
                end++;
            bool list_marker = end < len && (s[end] == '.' || s[end] == ')') &&
                               (end + 1 == len || isspace((unsigned char)s[end + 1]));
            if (list_marker) {
                luaL_addlstring(&buffer, s + i, end - i);
                luaL_addchar(&buffer, '\\');
                i = end;
                c = s[i];
            }
        } else if (escaped_anywhere((unsigned char)c)) {
            luaL_addchar(&buffer, '\\');
        }
        line_start = false;
        luaL_addchar(&buffer, c);
    }
    luaL_pushresult(&buffer);
    return 1;
}

typedef struct sort_key {
    int rank; /* 0 numbers, 1 strings, 2 anything else */
    lua_Number number;
    const char *bytes;
    size_t len;
    lua_Integer position; /* in the collected key list: a stable tiebreak */
} sort_key;

static int compare_keys(const void *left, const void *right)
{
    const sort_key *a = left, *b = right;
    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    if (a->rank == 0 && a->number != b->number)
        return a->number < b->number ? -1 : 1;
    if (a->rank == 1) {
        int order = memcmp(a->bytes, b->bytes, a->len < b->len ? a->len : b->len);
        if (order)
            return order;
        if (a->len != b->len)
            return a->len < b->len ? -1 : 1;
    }
    return a->position < b->position ? -1 : a->position > b->position;
}

/* Upvalues: 1 sorted keys, 2 the table, 3 position reached. Keys whose
 * value was removed meanwhile are skipped. */
static int sorted_next(lua_State *L)
{
    for (lua_Integer i = lua_tointeger(L, lua_upvalueindex(3)) + 1;; i++) {
        if (lua_rawgeti(L, lua_upvalueindex(1), i) == LUA_TNIL)
            return 0;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) {
            lua_pushinteger(L, i);
            lua_replace(L, lua_upvalueindex(3));
            return 2;
        }
        lua_pop(L, 2);
    }
}

/* herald.sorted(t): for k, v in herald.sorted(t) visits numeric keys in
 * numeric order, then string keys in byte order (not the locale's), then
 * any other keys. */
static int helper_sorted(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: keys in traversal order, anchoring the strings */
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 2, ++count);
    }
    sort_key *keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys + 1, 0); /* 3 */
    for (lua_Integer i = 0; i < count; i++) {
        int type = lua_rawgeti(L, 2, i + 1);
        sort_key *key = &keys[i];
        *key = (sort_key){2, 0, NULL, 0, i};
        if (type == LUA_TNUMBER) {
            key->rank = 0;
            key->number = lua_tonumber(L, -1);
        } else if (type == LUA_TSTRING) {
            key->rank = 1;
            key->bytes = lua_tolstring(L, -1, &key->len);
        }
        lua_pop(L, 1);
    }
    qsort(keys, (size_t)count, sizeof *keys, compare_keys);
    lua_createtable(L, (int)count, 0); /* 4: keys in sorted order */
    for (lua_Integer i = 0; i < count; i++) {
        lua_rawgeti(L, 2, keys[i].position + 1);
        lua_rawseti(L, 4, i + 1);
    }
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, sorted_next, 3);
    return 1;
}

/* herald.compile(text [, name]): name (default "template") is what error
 * messages show. Raises "name:line: message" on a template or Lua syntax
 * error. */
static int helper_compile(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "template");
    const char *chunkname = lua_pushfstring(L, "@%s", name);
    char err[512];
    char *lua;
    if (template_to_lua(name, text, len, &lua, err, sizeof err) != 0) {
        lua_pushstring(L, err);
        return lua_error(L);
    }
    int status = luaL_loadbufferx(L, lua, strlen(lua), chunkname, "t");
    free(lua);
    if (status != LUA_OK)
        return lua_error(L);
    /* The text reads globals where the code compiling it does: a
     * template's own globals, never the shared ones. */
    if (isolate_push_caller_env(L))
        lua_setupvalue(L, -2, 1);
    template_output_push_functions(L);
    lua_call(L, 4, 1);
    return 1;
}

void template_open_helpers(lua_State *L, const tz_zone *zone)
{
    static const luaL_Reg helpers[] = {
        {"truncate", helper_truncate}, {"md_escape", helper_md_escape},
        {"sorted", helper_sorted},     {"compile", helper_compile},
        {NULL, NULL},
    };
    luaL_newlib(L, helpers);
    lua_pushlightuserdata(L, (void *)(uintptr_t)zone);
    lua_pushcclosure(L, helper_time, 1);
    lua_setfield(L, -2, "time");
    action_helper_open(L);
    lua_setglobal(L, "herald");
}
