/* Lua 5.4 patterns with a step budget (see pattern.h).
 *
 * The matcher is a backtracking one, as Lua's: the same recursion points
 * (an optional item, each length tried by a greedy or lazy repetition, a
 * capture's start and end) and the same depth limit, so a pattern that is
 * "too complex" for Lua is too complex here. Every pattern item matched
 * and every subject byte scanned costs one step; after STEP_BATCH steps
 * the sandbox's deadline is checked, a clock read per batch.
 *
 * Lua strings always have a '\0' after their last byte, so reading
 * pattern[len] is allowed and stands for "end of pattern" where a suffix or
 * a closing character is looked for. */
#include "lua/pattern.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/sandbox.h"

#define ESCAPE '%'
#define MAX_CAPTURES 32  /* Lua's LUA_MAXCAPTURES */
#define MAX_DEPTH 200    /* Lua's MAXCCALLS for patterns */
#define CAPTURE_OPEN (-1)
#define CAPTURE_POSITION (-2)
/* About 10 µs of matching between clock reads: negligible cost, and a
 * call ends well within a millisecond of its deadline. */
#define STEP_BATCH 4096

typedef struct capture {
    const char *start;
    ptrdiff_t len; /* or CAPTURE_OPEN, CAPTURE_POSITION */
} capture;

typedef struct matcher {
    lua_State *L;
    const char *subject;
    const char *subject_end;
    const char *pattern_end;
    int depth_left;
    long steps_left;
    int level; /* captures started */
    capture captures[MAX_CAPTURES];
} matcher;

static void matcher_init(matcher *m, lua_State *L, const char *s, size_t len, const char *p,
                         size_t plen)
{
    m->L = L;
    m->subject = s;
    m->subject_end = s + len;
    m->pattern_end = p + plen;
    m->steps_left = STEP_BATCH;
}

/* For find, match and gsub, where a leading '^' anchors the match at the
 * start position: returns the pattern after it. */
static const char *matcher_init_anchored(matcher *m, lua_State *L, const char *s, size_t len,
                                         const char *p, size_t plen, bool *anchored)
{
    *anchored = *p == '^';
    if (*anchored) {
        p++;
        plen--;
    }
    matcher_init(m, L, s, len, p, plen);
    return p;
}

/* Before each attempt at a new subject position. */
static void matcher_reset(matcher *m)
{
    m->level = 0;
    m->depth_left = MAX_DEPTH;
}

static void spend(matcher *m, long steps)
{
    m->steps_left -= steps;
    if (m->steps_left <= 0) {
        m->steps_left = STEP_BATCH;
        sandbox_check_deadline(m->L);
    }
}

/* %a, %d ... for byte c; an upper-case class letter is the complement, any
 * other letter stands for itself. */
static bool in_class(int c, int letter)
{
    bool in;
    switch (tolower(letter)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break; /* deprecated in Lua, still accepted */
    default: return letter == c;
    }
    return isupper(letter) ? !in : in;
}

/* The set from '[' at open to ']' at close. A '-' makes a range only
 * between two plain bytes with the range's end before close. */
static bool in_set(int c, const char *open, const char *close)
{
    const char *p = open + 1;
    bool negated = *p == '^';
    if (negated)
        p++;
    for (; p < close; p++) {
        if (*p == ESCAPE) {
            p++;
            if (in_class(c, (unsigned char)*p))
                return !negated;
        } else if (p[1] == '-' && p + 2 < close) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return !negated;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return !negated;
        }
    }
    return negated;
}

/* The end of the single-character class starting at p: past "x", "%x" or
 * "[...]". A set's first byte (after '^') is a member even when it is ']'. */
static const char *item_end(matcher *m, const char *p)
{
    char first = *p++;
    if (first == ESCAPE) {
        if (p == m->pattern_end)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (first != '[')
        return p;
    if (*p == '^')
        p++;
    do {
        if (p == m->pattern_end)
            luaL_error(m->L, "malformed pattern (missing ']')");
        if (*p++ == ESCAPE && p < m->pattern_end)
            p++;
    } while (*p != ']');
    return p + 1;
}

/* Whether the subject byte at s matches the class from p to end. */
static bool item_matches(const matcher *m, const char *s, const char *p, const char *end)
{
    if (s >= m->subject_end)
        return false;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return true;
    case ESCAPE: return in_class(c, (unsigned char)p[1]);
    case '[': return in_set(c, p, end - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *match(matcher *m, const char *s, const char *p);

/* %bxy at p (pointing at x): a balanced run from s. */
static const char *match_balanced(matcher *m, const char *s, const char *p)
{
    if (p >= m->pattern_end - 1)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->subject_end || *s != p[0])
        return NULL;
    char open = p[0], close = p[1];
    int depth = 1;
    for (const char *at = s + 1; at < m->subject_end; at++) {
        if (*at == close) {
            if (--depth == 0) {
                spend(m, at - s);
                return at + 1;
            }
        } else if (*at == open) {
            depth++;
        }
    }
    spend(m, m->subject_end - s);
    return NULL;
}

/* The capture index a back-reference or %n replacement names. */
static int capture_index(matcher *m, int digit)
{
    int index = digit - '1';
    if (index < 0 || index >= m->level || m->captures[index].len == CAPTURE_OPEN)
        luaL_error(m->L, "invalid capture index %%%d", index + 1);
    return index;
}

/* %1-%9 in a pattern: the text captured, again. A position capture has no
 * text and never matches. */
static const char *match_backref(matcher *m, const char *s, int digit)
{
    const capture *c = &m->captures[capture_index(m, digit)];
    if (c->len < 0 || (size_t)(m->subject_end - s) < (size_t)c->len)
        return NULL;
    spend(m, c->len);
    return memcmp(c->start, s, (size_t)c->len) == 0 ? s + c->len : NULL;
}

static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
    if (m->level >= MAX_CAPTURES)
        luaL_error(m->L, "too many captures");
    m->captures[m->level].start = s;
    m->captures[m->level].len = kind;
    m->level++;
    const char *end = match(m, s, p);
    if (!end)
        m->level--;
    return end;
}

static const char *close_capture(matcher *m, const char *s, const char *p)
{
    int index = m->level - 1;
    while (index >= 0 && m->captures[index].len != CAPTURE_OPEN)
        index--;
    if (index < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->captures[index].len = s - m->captures[index].start;
    const char *end = match(m, s, p);
    if (!end)
        m->captures[index].len = CAPTURE_OPEN;
    return end;
}

/* item* and item+ (after its first match): the longest run first, then
 * shorter ones. */
static const char *repeat_greedy(matcher *m, const char *s, const char *p, const char *end)
{
    ptrdiff_t count = 0;
    while (item_matches(m, s + count, p, end))
        count++;
    spend(m, count);
    for (; count >= 0; count--) {
        const char *rest = match(m, s + count, end + 1);
        if (rest)
            return rest;
    }
    return NULL;
}

/* item-: the shortest run first. */
static const char *repeat_lazy(matcher *m, const char *s, const char *p, const char *end)
{
    for (;;) {
        const char *rest = match(m, s, end + 1);
        if (rest)
            return rest;
        if (!item_matches(m, s, p, end))
            return NULL;
        s++;
    }
}

/* %f[set] at p (pointing at '['): the boundary where the previous byte is
 * not in the set and the next one is; the subject's ends count as '\0'. */
static bool at_frontier(matcher *m, const char *s, const char *p, const char *end)
{
    int before = s == m->subject ? '\0' : (unsigned char)s[-1];
    int after = s == m->subject_end ? '\0' : (unsigned char)*s;
    return !in_set(before, p, end - 1) && in_set(after, p, end - 1);
}

/* A single class with its optional suffix at s. Either matching goes on
 * at the returned subject position with the pattern at *next_p, or, with
 * *next_p left NULL, the returned position is the result of the whole
 * remaining pattern (NULL: no match). */
static const char *match_item(matcher *m, const char *s, const char *p, const char **next_p)
{
    const char *end = item_end(m, p);
    char suffix = *end;
    if (!item_matches(m, s, p, end)) {
        if (suffix != '*' && suffix != '?' && suffix != '-')
            return NULL;
        *next_p = end + 1;
        return s;
    }
    switch (suffix) {
    case '?': {
        const char *rest = match(m, s + 1, end + 1);
        if (rest)
            return rest;
        *next_p = end + 1;
        return s;
    }
    case '+': return repeat_greedy(m, s + 1, p, end);
    case '*': return repeat_greedy(m, s, p, end);
    case '-': return repeat_lazy(m, s, p, end);
    default:
        *next_p = end;
        return s + 1;
    }
}

/* Matches the pattern from p against the subject from s; returns the end
 * of the match or NULL. Items that need no backtracking loop here; the
 * others recurse, as deep as MAX_DEPTH. */
static const char *match(matcher *m, const char *s, const char *p)
{
    if (m->depth_left-- == 0)
        luaL_error(m->L, "pattern too complex");
    while (s && p != m->pattern_end) {
        spend(m, 1);
        const char *next_p = NULL;
        if (*p == '(') {
            s = p[1] == ')' ? open_capture(m, s, p + 2, CAPTURE_POSITION)
                            : open_capture(m, s, p + 1, CAPTURE_OPEN);
            break;
        } else if (*p == ')') {
            s = close_capture(m, s, p + 1);
            break;
        } else if (*p == '$' && p + 1 == m->pattern_end) {
            s = s == m->subject_end ? s : NULL;
            break;
        } else if (*p == ESCAPE && p[1] == 'b') {
            s = match_balanced(m, s, p + 2);
            next_p = p + 4;
        } else if (*p == ESCAPE && p[1] == 'f') {
            p += 2;
            if (*p != '[')
                luaL_error(m->L, "missing '[' after '%%f' in pattern");
            const char *end = item_end(m, p);
            if (!at_frontier(m, s, p, end))
                s = NULL;
            next_p = end;
        } else if (*p == ESCAPE && isdigit((unsigned char)p[1])) {
            s = match_backref(m, s, (unsigned char)p[1]);
            next_p = p + 2;
        } else {
            s = match_item(m, s, p, &next_p);
        }
        if (!next_p)
            break;
        p = next_p;
    }
    m->depth_left++;
    return s;
}

/* The i-th capture's value on the stack, or the whole match s..e when
 * there are no captures and i is 0. */
static void push_capture(matcher *m, int i, const char *s, const char *e)
{
    if (i >= m->level) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    const capture *c = &m->captures[i];
    if (c->len == CAPTURE_OPEN)
        luaL_error(m->L, "unfinished capture");
    if (c->len == CAPTURE_POSITION)
        lua_pushinteger(m->L, c->start - m->subject + 1);
    else
        lua_pushlstring(m->L, c->start, (size_t)c->len);
}

/* All captures, or the whole match when there are none and s is given. */
static int push_captures(matcher *m, const char *s, const char *e)
{
    int count = m->level == 0 && s ? 1 : m->level;
    luaL_checkstack(m->L, count, "too many captures");
    for (int i = 0; i < count; i++)
        push_capture(m, i, s, e);
    return count;
}

/* Lua's rule for a start position: negative counts from the end, 0 and
 * anything before the start mean 1. Returns a 0-based offset, which may
 * lie past the end. */
static size_t start_offset(lua_State *L, int arg, size_t len)
{
    lua_Integer pos = luaL_optinteger(L, arg, 1);
    if (pos > 0)
        return (size_t)pos - 1;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 0;
    return len + (size_t)pos;
}

static bool has_specials(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i]))
            return true;
    return false;
}

/* string.find (find true) and string.match. */
static int find_or_match(lua_State *L, bool find)
{
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checklstring(L, 2, &plen);
    size_t init = start_offset(L, 3, len);
    if (init > len) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, plen))) {
        /* memmem is linear in the subject: bounded by memory */
        const char *at = memmem(s + init, len - init, p, plen);
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, at - s + 1);
        lua_pushinteger(L, at - s + (lua_Integer)plen);
        return 2;
    }
    matcher m;
    bool anchored;
    p = matcher_init_anchored(&m, L, s, len, p, plen, &anchored);
    const char *from = s + init;
    do {
        matcher_reset(&m);
        const char *end = match(&m, from, p);
        if (end) {
            if (!find)
                return push_captures(&m, from, end);
            lua_pushinteger(L, from - s + 1);
            lua_pushinteger(L, end - s);
            return push_captures(&m, NULL, NULL) + 2;
        }
    } while (from++ < m.subject_end && !anchored);
    luaL_pushfail(L);
    return 1;
}

static int pattern_find(lua_State *L) { return find_or_match(L, true); }
static int pattern_match(lua_State *L) { return find_or_match(L, false); }

/* The iterator's state, kept in a userdata beside the subject and pattern
 * strings (upvalues 1 and 2, which keep their bytes alive). */
typedef struct iteration {
    matcher m;
    const char *next;       /* where the next search starts */
    const char *last_end;   /* end of the last match: an empty match there is skipped */
    const char *pattern;
} iteration;

static int gmatch_next(lua_State *L)
{
    iteration *it = lua_touserdata(L, lua_upvalueindex(3));
    it->m.L = L;
    for (const char *from = it->next; from <= it->m.subject_end; from++) {
        matcher_reset(&it->m);
        const char *end = match(&it->m, from, it->pattern);
        if (end && end != it->last_end) {
            it->next = it->last_end = end;
            return push_captures(&it->m, from, end);
        }
    }
    return 0;
}

/* In gmatch '^' is an ordinary byte: an anchor would end the iteration. */
static int pattern_gmatch(lua_State *L)
{
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checklstring(L, 2, &plen);
    size_t init = start_offset(L, 3, len);
    lua_settop(L, 2);
    iteration *it = lua_newuserdatauv(L, sizeof *it, 0);
    if (init > len)
        init = len + 1;
    matcher_init(&it->m, L, s, len, p, plen);
    it->next = s + init;
    it->last_end = NULL;
    it->pattern = p;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* A string replacement: %0 is the match, %1-%9 captures, %% a '%'. */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    size_t len;
    const char *text = lua_tolstring(m->L, 3, &len);
    const char *esc;
    while ((esc = memchr(text, ESCAPE, len)) != NULL) {
        luaL_addlstring(b, text, (size_t)(esc - text));
        char c = esc[1];
        if (c == ESCAPE) {
            luaL_addchar(b, ESCAPE);
        } else if (c == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)c)) {
            push_capture(m, c - '1', s, e);
            luaL_addvalue(b); /* a position capture adds its number */
        } else {
            luaL_error(m->L, "invalid use of '%c' in replacement string", ESCAPE);
        }
        len -= (size_t)(esc + 2 - text);
        text = esc + 2;
    }
    luaL_addlstring(b, text, len);
}

/* Adds the replacement of match s..e; returns whether it changed the text
 * (a table or function giving false or nil keeps the match). */
static bool add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int type)
{
    lua_State *L = m->L;
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        lua_call(L, push_captures(m, s, e), 1);
    } else if (type == LUA_TTABLE) {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e);
        return true;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return false;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

static int pattern_gsub(lua_State *L)
{
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *p = luaL_checklstring(L, 2, &plen);
    int type = lua_type(L, 3);
    lua_Integer max_count = luaL_optinteger(L, 4, (lua_Integer)len + 1);
    luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                            type == LUA_TTABLE, 3, "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    matcher m;
    bool anchored;
    p = matcher_init_anchored(&m, L, s, len, p, plen, &anchored);
    const char *last_end = NULL;
    lua_Integer count = 0;
    bool changed = false;
    while (count < max_count) {
        matcher_reset(&m);
        const char *end = match(&m, s, p);
        if (end && end != last_end) {
            count++;
            changed = add_replacement(&m, &b, s, end, type) || changed;
            s = last_end = end;
        } else if (s < m.subject_end) {
            luaL_addchar(&b, *s++);
        } else {
            break;
        }
        if (anchored)
            break;
    }
    if (changed) {
        luaL_addlstring(&b, s, (size_t)(m.subject_end - s));
        luaL_pushresult(&b);
    } else {
        lua_pushvalue(L, 1);
    }
    lua_pushinteger(L, count);
    return 2;
}

void pattern_install(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    static const luaL_Reg functions[] = {
        {"find", pattern_find},
        {"match", pattern_match},
        {"gmatch", pattern_gmatch},
        {"gsub", pattern_gsub},
    };
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        lua_pushcfunction(L, functions[i].func);
        lua_setfield(L, idx, functions[i].name);
    }
}
