/* SPDX-License-Identifier: MIT */
/*
 * c_parse.h: what the ingester takes from one C source file, through
 * tree-sitter's C grammar: the symbols it defines at file scope, the names
 * each of them calls or uses as a type, and the files it includes.
 *
 * Only definitions at file scope count (also inside #if, #ifdef and #else
 * at file scope: every branch is seen), so a statement-like macro inside a
 * body (`vmcase(OP_ADD) {`), which the grammar may read as a nested
 * definition, never becomes a symbol; the calls inside it still count for
 * the function around it, since a body is scanned whole. A definition's
 * name comes from its declarator, so an export or attribute macro before
 * it (`LUA_API int lua_gettop (...)`) does not take the name. A loop macro
 * without braces (`for_each_cpu(i) sum += x;`) can make the grammar read a
 * function on, as an old-style definition, into the next one's body: a
 * function ends at the first `}` at the start of a line, and the text
 * after it is parsed again on its own.
 *
 * Function bodies at file scope are blanked before the grammar reads the
 * file (offsets, lines and columns stay), and read as tokens instead, which
 * takes about two fifths off the grammar's time: see "function bodies, read
 * as tokens" in c_parse.c.
 *
 * Nothing is resolved here: names are names (cmd_ingest.c resolves them
 * across the tree). Names and texts point into the source text given.
 */
#ifndef KDB_TOOLS_C_PARSE_H
#define KDB_TOOLS_C_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum c_kind {
    C_FILE = 1,
    C_FUNCTION,
    C_STRUCT,
    C_UNION,
    C_ENUM,
    C_TYPEDEF,
    C_MACRO,
    C_VARIABLE,
};
#define C_KIND_MAX C_VARIABLE

struct c_symbol {
    uint8_t kind; /* enum c_kind */
    bool is_static;
    const char *name;
    uint32_t name_len;
    uint32_t start; /* its text: source bytes [start, end) */
    uint32_t end;
    uint32_t line_start; /* 1-based, inclusive */
    uint32_t line_end;
};

enum c_ref_kind {
    C_REF_CALL = 1, /* a call of a function (from a function or a macro's body) */
    C_REF_TYPE = 2, /* a struct, union, enum or typedef a function uses */
};

struct c_ref {
    uint32_t from; /* index of the symbol that refers */
    uint8_t kind;  /* enum c_ref_kind */
    uint8_t type;  /* for C_REF_TYPE, the kind referred to: C_STRUCT ... C_TYPEDEF */
    const char *name;
    uint32_t name_len;
};

struct c_include {
    const char *path; /* between the quotes or brackets */
    uint32_t len;
    bool system; /* <...> */
};

struct c_unit {
    struct c_symbol *symbols;
    size_t symbol_count;
    struct c_ref *refs;
    size_t ref_count;
    struct c_include *includes;
    size_t include_count;
    size_t capacity[3];
    uint32_t line_count;
    bool had_errors; /* the grammar met text it could not read; what it could is here */
};

struct c_parser;

/* A parser, reused for every file. Returns NULL when out of memory or the grammar does not load. */
struct c_parser *c_parser_new(void);
void c_parser_free(struct c_parser *p);

/*
 * Parses text[0..len) into *unit (emptied first; its arrays are reused).
 * Returns 0, or -ENOMEM / -EFBIG (over 4 GiB).
 */
int c_parse(struct c_parser *p, const char *text, size_t len, struct c_unit *unit);

void c_unit_release(struct c_unit *unit);

/* "file", "function", "struct", ... */
const char *c_kind_name(enum c_kind kind);

#endif /* KDB_TOOLS_C_PARSE_H */
