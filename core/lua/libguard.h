/* Library functions whose loops memory does not bound, made to end within
 * the call's deadline.
 *
 * The deadline hook runs between Lua instructions, never inside one C
 * function, so a library function is safe only if its work is bounded by
 * what the memory cap lets a script build. Audit of every function the
 * sandbox exposes (Lua 5.4 sources; loops not bounded by memory marked):
 *
 *   string: byte, char, format, len, lower, upper, reverse, pack,
 *     packsize, unpack: linear in their strings or arguments (the stack
 *     holds at most a million values). rep: MARKED, an empty string and
 *     separator repeat n times copying nothing (string.rep("", 2^50)).
 *     find, match, gmatch, gsub: MARKED, backtracking is exponential in
 *     the pattern (replaced, lua/pattern.h).
 *   table: move: MARKED, the range is any two integers
 *     (table.move({}, 1, 2^50, 2)). insert, remove, concat, sort: MARKED
 *     for tables with a metatable: the length comes from __len and the
 *     elements from __index, which a C function (a library one) can give
 *     without allocating and without running a Lua instruction. unpack:
 *     bounded by the stack (a million values).
 *   utf8, math, os.time/date/clock: linear in their arguments.
 *   base: pairs/ipairs/next step once per call; select, tostring,
 *     tonumber, rawlen, rawequal, rawget, error, assert, type: constant or
 *     linear; pcall and xpcall run Lua code under the hook.
 *   herald.*: linear in their strings; herald.sorted copies and sorts a
 *     table's keys, bounded by the table's size; herald.action_url reads
 *     a group's alerts (twice at most) and one table of labels.
 *
 * So: string.rep returns "" at once for an empty string and separator
 * (what Lua would return, eventually); table.move, insert, remove and
 * concat are herald's own loops, which check the deadline every few
 * thousand elements; table.sort refuses a table whose length exceeds what
 * the memory cap could hold (16 bytes per element) when that length comes
 * through a metatable. Results and errors are otherwise Lua's. */
#ifndef HERALD_LIBGUARD_H
#define HERALD_LIBGUARD_H

#include <lua.h>

/* Replaces the marked functions in the (writable) string and table
 * library tables of a sandboxed state; the sandbox calls it once. */
void libguard_install(lua_State *L);

#endif
