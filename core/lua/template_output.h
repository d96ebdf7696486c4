/* Where a compiled template's text goes while it renders. */
#ifndef HERALD_TEMPLATE_OUTPUT_H
#define HERALD_TEMPLATE_OUTPUT_H

#include <lua.h>

/* Pushes the four functions the chunk template_to_lua makes takes as its
 * arguments, in order: new() makes an output, append(output, text_after,
 * value) appends tostring(value) (nothing for nil) and then text_after,
 * run(output, ...) appends each of its arguments so, finish(output)
 * returns the text. */
void template_output_push_functions(lua_State *L);

#endif
