/* SPDX-License-Identifier: MIT */
/*
 * c_parse.c: symbols, references and includes of a C file (see c_parse.h),
 * read off tree-sitter's syntax tree. Node kinds and field names are
 * looked up once, when the parser is made, and compared as numbers.
 */
#include "c_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_c(void);

/* The node kinds the walk tells apart. */
enum sym {
    S_FUNCTION_DEFINITION,
    S_DECLARATION,
    S_TYPE_DEFINITION,
    S_STRUCT,
    S_UNION,
    S_ENUM,
    S_PREPROC_DEF,
    S_PREPROC_FUNCTION_DEF,
    S_PREPROC_INCLUDE,
    S_PREPROC_IF,
    S_PREPROC_IFDEF,
    S_PREPROC_ELSE,
    S_PREPROC_ELIF,
    S_ERROR,
    S_IDENTIFIER,
    S_TYPE_IDENTIFIER,
    S_FIELD_IDENTIFIER,
    S_FUNCTION_DECLARATOR,
    S_CALL_EXPRESSION,
    S_STORAGE_CLASS,
    S_STRING_LITERAL,
    S_SYSTEM_LIB_STRING,
    S_PARENTHESIZED_DECLARATOR,
    S_COUNT
};

static const char *const sym_names[S_COUNT] = {"function_definition",
                                               "declaration",
                                               "type_definition",
                                               "struct_specifier",
                                               "union_specifier",
                                               "enum_specifier",
                                               "preproc_def",
                                               "preproc_function_def",
                                               "preproc_include",
                                               "preproc_if",
                                               "preproc_ifdef",
                                               "preproc_else",
                                               "preproc_elif",
                                               "ERROR",
                                               "identifier",
                                               "type_identifier",
                                               "field_identifier",
                                               "function_declarator",
                                               "call_expression",
                                               "storage_class_specifier",
                                               "string_literal",
                                               "system_lib_string",
                                               "parenthesized_declarator"};

enum field { F_NAME, F_DECLARATOR, F_TYPE, F_BODY, F_VALUE, F_PATH, F_FUNCTION, F_COUNT };

static const char *const field_names[F_COUNT] = {"name",  "declarator", "type",    "body",
                                                 "value", "path",       "function"};

/* A function body at file scope, braces included: source bytes [open, close]. */
struct body {
    uint32_t open;
    uint32_t close;
};

struct c_parser {
    TSParser *ts;
    TSSymbol syms[S_COUNT];
    TSFieldId fields[F_COUNT];
    /* The text as the grammar reads it: function bodies blanked (see blank_bodies()). */
    char *blank;
    size_t blank_capacity;
    struct body *bodies;
    size_t body_count, body_capacity;
};

struct walk {
    struct c_parser *p;
    const char *text;   /* the source: names, texts and body scans */
    const char *parsed; /* what the grammar read: text, or p->blank */
    struct c_unit *unit;
    int rc;
    uint32_t len;   /* of text */
    uint32_t limit; /* scan_refs() stops at this byte (a function cut short) */
    int reparses;   /* nested parses of what an overrunning function swallowed */
};

struct c_parser *c_parser_new(void)
{
    const TSLanguage *lang = tree_sitter_c();
    struct c_parser *p = calloc(1, sizeof(*p));

    if (!p) return NULL;
    p->ts = ts_parser_new();
    if (!p->ts || !ts_parser_set_language(p->ts, lang)) {
        c_parser_free(p);
        return NULL;
    }
    for (int i = 0; i < S_COUNT; i++) {
        /* ERROR is not a symbol of the grammar: its number is fixed (ts_builtin_sym_error). */
        p->syms[i] = i == S_ERROR ? (TSSymbol)-1
                                  : ts_language_symbol_for_name(
                                        lang, sym_names[i], (uint32_t)strlen(sym_names[i]), true);
    }
    for (int i = 0; i < F_COUNT; i++)
        p->fields[i] =
            ts_language_field_id_for_name(lang, field_names[i], (uint32_t)strlen(field_names[i]));
    return p;
}

void c_parser_free(struct c_parser *p)
{
    if (!p) return;
    if (p->ts) ts_parser_delete(p->ts);
    free(p->blank);
    free(p->bodies);
    free(p);
}

const char *c_kind_name(enum c_kind kind)
{
    static const char *const names[] = {NULL,   "file",    "function", "struct",  "union",
                                        "enum", "typedef", "macro",    "variable"};
    return kind >= 1 && kind <= C_KIND_MAX ? names[kind] : NULL;
}

/* ---- growing the unit's arrays ---- */

static void *grow(void *items, size_t *capacity, size_t count, size_t size)
{
    size_t want;
    void *more;

    if (count < *capacity) return items;
    want = *capacity ? *capacity * 2 : 64;
    more = realloc(items, want * size);
    if (more) *capacity = want;
    return more;
}

static bool is(const struct walk *w, TSNode n, enum sym s)
{
    return ts_node_symbol(n) == w->p->syms[s];
}

static TSNode field(const struct walk *w, TSNode n, enum field f)
{
    return ts_node_child_by_field_id(n, w->p->fields[f]);
}

static struct c_symbol *add_symbol(struct walk *w, enum c_kind kind, TSNode name, TSNode whole,
                                   bool is_static)
{
    struct c_unit *u = w->unit;
    struct c_symbol *s;
    void *items = grow(u->symbols, &u->capacity[0], u->symbol_count, sizeof(*u->symbols));

    if (!items) {
        w->rc = -ENOMEM;
        return NULL;
    }
    u->symbols = items;
    s = &u->symbols[u->symbol_count++];
    s->kind = (uint8_t)kind;
    s->is_static = is_static;
    s->name = w->text + ts_node_start_byte(name);
    s->name_len = ts_node_end_byte(name) - ts_node_start_byte(name);
    s->start = ts_node_start_byte(whole);
    s->end = ts_node_end_byte(whole);
    s->line_start = ts_node_start_point(whole).row + 1;
    /* A node that ends with its line's newline (a #define) ends on that line. */
    s->line_end = ts_node_end_point(whole).row + (ts_node_end_point(whole).column ? 1 : 0);
    if (s->line_end < s->line_start) s->line_end = s->line_start;
    return s;
}

static void add_ref(struct walk *w, enum c_ref_kind kind, enum c_kind type, const char *name,
                    uint32_t len)
{
    struct c_unit *u = w->unit;
    void *items = grow(u->refs, &u->capacity[1], u->ref_count, sizeof(*u->refs));

    if (!items) {
        w->rc = -ENOMEM;
        return;
    }
    u->refs = items;
    u->refs[u->ref_count++] = (struct c_ref){.from = (uint32_t)(u->symbol_count - 1),
                                             .kind = (uint8_t)kind,
                                             .type = (uint8_t)type,
                                             .name = name,
                                             .name_len = len};
}

static void add_node_ref(struct walk *w, enum c_ref_kind kind, enum c_kind type, TSNode name)
{
    add_ref(w, kind, type, w->text + ts_node_start_byte(name),
            ts_node_end_byte(name) - ts_node_start_byte(name));
}

/* ---- declarators ---- */

/* The identifier a declarator declares, through pointers, arrays, parentheses and calls. */
static TSNode declared_name(const struct walk *w, TSNode d)
{
    for (int depth = 0; depth < 64 && !ts_node_is_null(d); depth++) {
        if (is(w, d, S_IDENTIFIER) || is(w, d, S_TYPE_IDENTIFIER) || is(w, d, S_FIELD_IDENTIFIER))
            return d;
        if (is(w, d, S_PARENTHESIZED_DECLARATOR))
            d = ts_node_named_child(d, 0);
        else
            d = field(w, d, F_DECLARATOR);
    }
    return (TSNode){0};
}

/* Whether a declarator, under its pointers and parentheses, declares a function. */
static bool declares_function(const struct walk *w, TSNode d)
{
    for (int depth = 0; depth < 64 && !ts_node_is_null(d); depth++) {
        if (is(w, d, S_FUNCTION_DECLARATOR)) return true;
        if (is(w, d, S_IDENTIFIER)) return false;
        d = is(w, d, S_PARENTHESIZED_DECLARATOR) ? ts_node_named_child(d, 0)
                                                 : field(w, d, F_DECLARATOR);
    }
    return false;
}

/*
 * Calls fn for each child of n in field f (a declaration's declarators:
 * there may be several). A cursor, since it tells field ids reliably.
 */
static void each_in_field(struct walk *w, TSNode n, enum field f,
                          void (*fn)(struct walk *w, TSNode parent, TSNode child, char cls),
                          char cls)
{
    TSTreeCursor cursor = ts_tree_cursor_new(n);

    if (ts_tree_cursor_goto_first_child(&cursor)) {
        do {
            if (ts_tree_cursor_current_field_id(&cursor) == w->p->fields[f])
                fn(w, n, ts_tree_cursor_current_node(&cursor), cls);
        } while (w->rc == 0 && ts_tree_cursor_goto_next_sibling(&cursor));
    }
    ts_tree_cursor_delete(&cursor);
}

/* The storage class of a declaration: 's' static, 'e' extern, 0 neither. */
static char storage(const struct walk *w, TSNode n)
{
    uint32_t count = ts_node_named_child_count(n);

    for (uint32_t i = 0; i < count; i++) {
        TSNode c = ts_node_named_child(n, i);
        if (!is(w, c, S_STORAGE_CLASS)) continue;
        if (w->text[ts_node_start_byte(c)] == 's') return 's';
        if (w->text[ts_node_start_byte(c)] == 'e') return 'e';
    }
    return 0;
}

/* ---- references ---- */

static enum c_kind specifier_kind(const struct walk *w, TSNode n)
{
    if (is(w, n, S_STRUCT)) return C_STRUCT;
    if (is(w, n, S_UNION)) return C_UNION;
    if (is(w, n, S_ENUM)) return C_ENUM;
    return 0;
}

/* The calls and the types used anywhere under n, for the symbol added last. */
static void scan_refs(struct walk *w, TSNode n)
{
    TSTreeCursor cursor = ts_tree_cursor_new(n);
    uint32_t tag = UINT32_MAX; /* where the tag of the last struct, union or enum met starts */
    bool more = true;

    while (more && w->rc == 0) {
        TSNode c = ts_tree_cursor_current_node(&cursor);
        enum c_kind kind;

        if (ts_node_start_byte(c) >= w->limit) break; /* depth first: the rest starts later */
        if (is(w, c, S_CALL_EXPRESSION)) {
            TSNode f = field(w, c, F_FUNCTION);
            if (!ts_node_is_null(f) && is(w, f, S_IDENTIFIER)) add_node_ref(w, C_REF_CALL, 0, f);
        } else if (is(w, c, S_TYPE_IDENTIFIER)) {
            if (ts_node_start_byte(c) != tag) add_node_ref(w, C_REF_TYPE, C_TYPEDEF, c);
        } else if ((kind = specifier_kind(w, c)) != 0) {
            TSNode name = field(w, c, F_NAME);
            if (!ts_node_is_null(name)) {
                add_node_ref(w, C_REF_TYPE, kind, name);
                tag = ts_node_start_byte(name); /* a tag, not a typedef's name */
            }
        }
        /* Depth first: down, else along, else up until a sibling. */
        if (ts_tree_cursor_goto_first_child(&cursor)) continue;
        while (!ts_tree_cursor_goto_next_sibling(&cursor)) {
            if (!ts_tree_cursor_goto_parent(&cursor)) {
                more = false;
                break;
            }
        }
    }
    ts_tree_cursor_delete(&cursor);
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/*
 * C's keywords and the grammar's primitive types: never a call (in a body or
 * a macro's) nor a typedef's name.
 */
static bool is_reserved(const char *s, size_t len)
{
#define WORD(w)                                                                                    \
    {                                                                                              \
        w, sizeof(w) - 1                                                                           \
    }
    static const struct {
        const char *word;
        size_t len;
    } words[] = {
        WORD("auto"),          WORD("break"),         WORD("case"),       WORD("char"),
        WORD("const"),         WORD("continue"),      WORD("default"),    WORD("do"),
        WORD("double"),        WORD("else"),          WORD("enum"),       WORD("extern"),
        WORD("float"),         WORD("for"),           WORD("goto"),       WORD("if"),
        WORD("inline"),        WORD("int"),           WORD("long"),       WORD("register"),
        WORD("restrict"),      WORD("return"),        WORD("short"),      WORD("signed"),
        WORD("sizeof"),        WORD("static"),        WORD("struct"),     WORD("switch"),
        WORD("typedef"),       WORD("union"),         WORD("unsigned"),   WORD("void"),
        WORD("volatile"),      WORD("while"),         WORD("_Bool"),      WORD("bool"),
        WORD("_Alignof"),      WORD("alignof"),       WORD("_Alignas"),   WORD("typeof"),
        WORD("__typeof__"),    WORD("__typeof"),      WORD("_Generic"),   WORD("__attribute__"),
        WORD("__attribute"),   WORD("asm"),           WORD("__asm__"),    WORD("__asm"),
        WORD("__volatile__"),  WORD("__inline"),      WORD("__inline__"), WORD("__restrict"),
        WORD("__restrict__"),  WORD("_Atomic"),       WORD("_Noreturn"),  WORD("_Static_assert"),
        WORD("static_assert"), WORD("__extension__"), WORD("defined"),    WORD("size_t"),
        WORD("ssize_t"),       WORD("int8_t"),        WORD("int16_t"),    WORD("int32_t"),
        WORD("int64_t"),       WORD("uint8_t"),       WORD("uint16_t"),   WORD("uint32_t"),
        WORD("uint64_t"),      WORD("intptr_t"),      WORD("uintptr_t"),  WORD("ptrdiff_t"),
        WORD("char16_t"),      WORD("char32_t"),      WORD("NULL")};
#undef WORD
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (words[i].len == len && memcmp(words[i].word, s, len) == 0) return true;
    }
    return false;
}

/* A macro's body is not parsed: calls in it are names followed by "(". */
static void scan_macro_calls(struct walk *w, TSNode value)
{
    const char *s = w->text + ts_node_start_byte(value);
    const char *end = w->text + ts_node_end_byte(value);

    while (s < end && w->rc == 0) {
        const char *name, *after;
        if (*s == '"' || *s == '\'') { /* skip a literal */
            char quote = *s++;
            while (s < end && *s != quote)
                s += *s == '\\' && s + 1 < end ? 2 : 1;
            s++;
            continue;
        }
        if (!ident_start(*s) || (s > w->text && ident_char(s[-1]))) {
            s++;
            continue;
        }
        name = s;
        while (s < end && ident_char(*s))
            s++;
        after = s;
        while (after < end && (*after == ' ' || *after == '\t'))
            after++;
        if (after < end && *after == '(' && !is_reserved(name, (size_t)(s - name)))
            add_ref(w, C_REF_CALL, 0, name, (uint32_t)(s - name));
    }
}

/* ---- function bodies, read as tokens ---- */

/*
 * The grammar spends most of its time in function bodies, and a body gives
 * the ingester only the names it calls and the types it uses. So the
 * bodies of functions at file scope are blanked (every byte but newlines
 * made a space: offsets, lines and columns stay) before the grammar reads
 * the file, and each is read here as tokens instead:
 *
 *   - a call is a name followed by "(" (not a keyword, not a member after
 *     "." or "->"), as the grammar's call_expression with a plain name;
 *   - a struct, union or enum is the tag after that keyword;
 *   - a typedef is a name used as a type: followed by a name (`u8 x`), by
 *     "*"s and then a name or ")" (`foo_t *p`, `(foo_t *)`), or alone in
 *     parentheses (`(foo_t)x`, `sizeof(foo_t)`). Names that are no type
 *     (`(x)`) resolve to nothing, since a type reference only links to a
 *     typedef of that name.
 *
 * Comments, literals and preprocessor lines are skipped.
 */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Past a comment that starts at text[at], if one does; else at. */
static uint32_t skip_comment(const char *text, uint32_t at, uint32_t end)
{
    if (at + 1 >= end || text[at] != '/') return at;
    if (text[at + 1] == '/') {
        while (at < end && text[at] != '\n')
            at++;
        return at;
    }
    if (text[at + 1] == '*') {
        for (at += 2; at + 1 < end; at++) {
            if (text[at] == '*' && text[at + 1] == '/') return at + 2;
        }
        return end;
    }
    return at;
}

/* Past a preprocessor line that starts at text[at], continuations and comments included. */
static uint32_t skip_directive(const char *text, uint32_t at, uint32_t end)
{
    while (at < end && text[at] != '\n') {
        uint32_t past = skip_comment(text, at, end);
        if (past != at) {
            at = past;
        } else {
            at += text[at] == '\\' && at + 1 < end ? 2 : 1;
        }
    }
    return at;
}

/* Past a string or character literal that starts at text[at] (it ends at its line's end). */
static uint32_t skip_literal(const char *text, uint32_t at, uint32_t end)
{
    char quote = text[at++];

    while (at < end && text[at] != quote && text[at] != '\n')
        at += text[at] == '\\' && at + 1 < end ? 2 : 1;
    return at < end ? at + 1 : end;
}

/*
 * The next token of text[at, end) into [*start, *stop), past spaces,
 * comments and preprocessor lines; false at the end. A literal is one
 * token; so is a name; any other byte is a token of its own.
 */
static bool next_token(const char *text, uint32_t at, uint32_t end, uint32_t *start, uint32_t *stop)
{
    while (at < end) {
        uint32_t past;
        if (is_space(text[at])) {
            at++;
            continue;
        }
        past = skip_comment(text, at, end);
        if (past != at) {
            at = past;
            continue;
        }
        if (text[at] == '#') { /* a directive: only spaces before it on its line */
            uint32_t b = at;
            while (b > 0 && (text[b - 1] == ' ' || text[b - 1] == '\t'))
                b--;
            if (b == 0 || text[b - 1] == '\n') {
                at = skip_directive(text, at, end);
                continue;
            }
        }
        *start = at;
        if (text[at] == '"' || text[at] == '\'') {
            *stop = skip_literal(text, at, end);
        } else if (ident_start(text[at])) {
            while (at < end && ident_char(text[at]))
                at++;
            *stop = at;
        } else {
            *stop = at + 1;
        }
        return true;
    }
    return false;
}

static bool word_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* The refs of a blanked body, text[from, to), for the symbol added last. */
static void scan_body(struct walk *w, uint32_t from, uint32_t to)
{
    const char *t = w->text;
    uint32_t at = from, start, stop;
    char before = 0;         /* the last one-byte token before the current one, or 0 after a name */
    char before2 = 0;        /* the one before that, for "->" */
    bool name_last = false;  /* the token before the current one was a name, not reserved */
    bool call_paren = false; /* the last "(" opened a call's arguments (a name before it) */

    while (w->rc == 0 && next_token(t, at, to, &start, &stop)) {
        uint32_t ns, ne;
        bool member = before == '.' || (before == '>' && before2 == '-');
        bool cast = before == '(' && !call_paren; /* `(X)`: a cast, sizeof, or parentheses */
        at = stop;
        if (!ident_start(t[start])) {
            if (t[start] == '(') call_paren = name_last || before == ')' || before == ']';
            before2 = before;
            before = t[start];
            name_last = false;
            continue;
        }
        before2 = before;
        before = 0;
        name_last = !is_reserved(t + start, stop - start);
        if (member) continue;
        if (word_is(t + start, stop - start, "struct") ||
            word_is(t + start, stop - start, "union") || word_is(t + start, stop - start, "enum")) {
            enum c_kind kind = t[start] == 's' ? C_STRUCT : t[start] == 'u' ? C_UNION : C_ENUM;
            if (next_token(t, at, to, &ns, &ne) && ident_start(t[ns]) &&
                !is_reserved(t + ns, ne - ns)) {
                add_ref(w, C_REF_TYPE, kind, t + ns, ne - ns);
                at = ne;
                name_last = true;
            }
            continue;
        }
        if (!name_last || !next_token(t, at, to, &ns, &ne)) continue;
        if (t[ns] == '(') {
            add_ref(w, C_REF_CALL, 0, t + start, stop - start);
        } else if (ident_start(t[ns]) || (t[ns] == ')' && cast)) {
            add_ref(w, C_REF_TYPE, C_TYPEDEF, t + start, stop - start);
        } else if (t[ns] == '*') {
            uint32_t ps = ns, pe = ne;
            while (t[ps] == '*' && next_token(t, pe, to, &ps, &pe))
                ;
            if (ident_start(t[ps]) || (t[ps] == ')' && cast))
                add_ref(w, C_REF_TYPE, C_TYPEDEF, t + start, stop - start);
        }
    }
}

static int add_body(struct c_parser *p, uint32_t open, uint32_t close)
{
    void *items = grow(p->bodies, &p->body_capacity, p->body_count, sizeof(*p->bodies));

    if (!items) return -ENOMEM;
    p->bodies = items;
    p->bodies[p->body_count++] = (struct body){open, close};
    return 0;
}

/*
 * Finds the function bodies at file scope of text[0, len): a "{" at brace
 * depth 0 right after a ")" (comments and directives between them aside),
 * to its matching "}". Into p->bodies, and p->blank holds the text with
 * them blanked. Returns 1 when there are bodies to blank, 0 when the text
 * is better read whole (no body; braces that do not balance, as #if
 * branches can leave them; a "}" at the start of a line inside a body,
 * where a function usually ends), or -ENOMEM.
 */
static int blank_bodies(struct c_parser *p, const char *text, uint32_t len)
{
    uint32_t at = 0, start, stop, open = 0;
    int depth = 0;
    char last = 0;

    p->body_count = 0;
    while (next_token(text, at, len, &start, &stop)) {
        char c = text[start];
        at = stop;
        if (c == '{') {
            if (depth == 0 && last == ')') open = start + 1; /* + 1: 0 is "none" */
            depth++;
        } else if (c == '}') {
            if (--depth < 0) return 0;
            if (depth == 0 && open) {
                if (add_body(p, open - 1, start) < 0) return -ENOMEM;
                open = 0;
            } else if (open && start > 0 && text[start - 1] == '\n') {
                return 0;
            }
        }
        last = c;
    }
    if (depth != 0 || p->body_count == 0) return 0;
    if (len > p->blank_capacity) {
        char *more = realloc(p->blank, len);
        if (!more) return -ENOMEM;
        p->blank = more;
        p->blank_capacity = len;
    }
    memcpy(p->blank, text, len);
    for (size_t i = 0; i < p->body_count; i++) {
        for (uint32_t b = p->bodies[i].open + 1; b < p->bodies[i].close; b++) {
            if (p->blank[b] != '\n') p->blank[b] = ' ';
        }
    }
    return 1;
}

/* The blanked body that opens at byte open, or NULL. */
static const struct body *blanked_body(const struct walk *w, uint32_t open)
{
    size_t lo = 0, hi = w->p->body_count;

    if (w->parsed == w->text) return NULL; /* read whole: nothing blanked */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->p->bodies[mid].open < open)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->p->body_count && w->p->bodies[lo].open == open ? &w->p->bodies[lo] : NULL;
}

/* ---- file scope ---- */

/* A struct, union or enum with a body and a name, defined by node whole (its text). */
static void add_specifier(struct walk *w, TSNode spec, TSNode whole)
{
    enum c_kind kind = specifier_kind(w, spec);
    TSNode name, body;

    if (!kind) return;
    name = field(w, spec, F_NAME);
    body = field(w, spec, F_BODY);
    if (!ts_node_is_null(name) && !ts_node_is_null(body)) add_symbol(w, kind, name, whole, false);
}

static void add_include(struct walk *w, TSNode path)
{
    struct c_unit *u = w->unit;
    uint32_t start = ts_node_start_byte(path), end = ts_node_end_byte(path);
    void *items;

    if (ts_node_is_null(path) || end - start < 2) return;
    if (!is(w, path, S_STRING_LITERAL) && !is(w, path, S_SYSTEM_LIB_STRING)) return;
    items = grow(u->includes, &u->capacity[2], u->include_count, sizeof(*u->includes));
    if (!items) {
        w->rc = -ENOMEM;
        return;
    }
    u->includes = items;
    u->includes[u->include_count++] =
        (struct c_include){.path = w->text + start + 1,
                           .len = end - start - 2,
                           .system = is(w, path, S_SYSTEM_LIB_STRING)};
}

static void file_scope(struct walk *w, TSNode parent, int depth);

static void add_variable(struct walk *w, TSNode decl, TSNode d, char cls)
{
    TSNode name;

    if (declares_function(w, d)) return; /* a prototype */
    name = declared_name(w, d);
    if (!ts_node_is_null(name)) add_symbol(w, C_VARIABLE, name, decl, cls == 's');
}

static void add_typedef(struct walk *w, TSNode def, TSNode d, char cls)
{
    TSNode name = declared_name(w, d);

    (void)cls;
    if (!ts_node_is_null(name)) add_symbol(w, C_TYPEDEF, name, def, false);
}

/*
 * Where function definition n really ends, if before its node does: after
 * the first `}` at the start of a line in its body. A statement-like macro
 * without braces (`for_each_cpu(i) sum += x;`) can make the grammar read
 * on, as an old-style definition, into the next function's body, and the
 * braces never balance again: the node then runs to the end of the file.
 * A function's closing brace at column 0 is where C code puts it.
 */
static uint32_t function_end(const struct walk *w, TSNode n)
{
    TSNode body = field(w, n, F_BODY);
    uint32_t end = ts_node_end_byte(n);

    if (ts_node_is_null(body)) return end;
    for (uint32_t at = ts_node_start_byte(body) + 1; at + 1 < end; at++) {
        if (w->text[at] == '}' && w->text[at - 1] == '\n') return at + 1;
    }
    return end;
}

static TSPoint point_at(const struct walk *w, uint32_t byte)
{
    TSPoint point = {0, 0};
    const char *line = w->text;

    for (const char *nl; (nl = memchr(line, '\n', (size_t)(w->text + byte - line))) != NULL;
         line = nl + 1)
        point.row++;
    point.column = (uint32_t)(w->text + byte - line);
    return point;
}

/* Parses text [from, to) again on its own, at file scope: what an overrunning function took. */
static void reparse(struct walk *w, uint32_t from, uint32_t to)
{
    TSRange range = {point_at(w, from), point_at(w, to), from, to};
    TSTree *tree;

    if (w->reparses >= 64 || to <= from) return; /* a bound on pathological input */
    w->reparses++;
    if (!ts_parser_set_included_ranges(w->p->ts, &range, 1)) return;
    tree = ts_parser_parse_string(w->p->ts, NULL, w->parsed, w->len);
    (void)ts_parser_set_included_ranges(w->p->ts, NULL, 0);
    if (!tree) {
        w->rc = -ENOMEM;
        return;
    }
    file_scope(w, ts_tree_root_node(tree), 0); /* a file scope of its own */
    ts_tree_delete(tree);
}

static void item(struct walk *w, TSNode n, int depth)
{
    char cls;

    if (is(w, n, S_FUNCTION_DEFINITION)) {
        TSNode name = declared_name(w, field(w, n, F_DECLARATOR)), body = field(w, n, F_BODY);
        const struct body *blanked =
            ts_node_is_null(body) ? NULL : blanked_body(w, ts_node_start_byte(body));
        uint32_t end, node_end = ts_node_end_byte(n), limit = w->limit;
        struct c_symbol *s;
        if (ts_node_is_null(name)) return;
        s = add_symbol(w, C_FUNCTION, name, n, storage(w, n) == 's');
        if (!s) return;
        /* Where it really ends: the node may read on past its body. */
        end = blanked ? blanked->close + 1 : function_end(w, n);
        if (end < node_end) {
            s->end = end;
            s->line_end = point_at(w, end).row + 1;
        }
        /* The tree's refs up to the end, or up to a blanked body, which is read as tokens. */
        w->limit = blanked ? blanked->open : end;
        scan_refs(w, n);
        w->limit = limit;
        if (blanked) scan_body(w, blanked->open + 1, blanked->close);
        if (end < node_end) reparse(w, end, node_end); /* what it read on is read again */
    } else if (is(w, n, S_DECLARATION)) {
        cls = storage(w, n);
        add_specifier(w, field(w, n, F_TYPE), n);
        if (cls != 'e')
            each_in_field(w, n, F_DECLARATOR, add_variable, cls); /* extern: elsewhere */
    } else if (is(w, n, S_TYPE_DEFINITION)) {
        add_specifier(w, field(w, n, F_TYPE), n);
        each_in_field(w, n, F_DECLARATOR, add_typedef, 0);
    } else if (specifier_kind(w, n)) {
        add_specifier(w, n, n);
    } else if (is(w, n, S_PREPROC_DEF) || is(w, n, S_PREPROC_FUNCTION_DEF)) {
        TSNode name = field(w, n, F_NAME), value = field(w, n, F_VALUE);
        if (ts_node_is_null(name) || !add_symbol(w, C_MACRO, name, n, false)) return;
        if (!ts_node_is_null(value) && is(w, n, S_PREPROC_FUNCTION_DEF)) scan_macro_calls(w, value);
    } else if (is(w, n, S_PREPROC_INCLUDE)) {
        add_include(w, field(w, n, F_PATH));
    } else if (is(w, n, S_PREPROC_IF) || is(w, n, S_PREPROC_IFDEF) || is(w, n, S_PREPROC_ELSE) ||
               is(w, n, S_PREPROC_ELIF) || (is(w, n, S_ERROR) && depth == 0)) {
        /* Every branch of a conditional at file scope is file scope too; so is what the
         * grammar could not fit at the top, one level down. */
        file_scope(w, n, depth + 1);
    }
}

/* The named children of parent, each an item: through a cursor, which steps from one to the
 * next (ts_node_named_child() starts again from the first each time). */
static void file_scope(struct walk *w, TSNode parent, int depth)
{
    TSTreeCursor cursor;

    if (depth > 64) return;
    cursor = ts_tree_cursor_new(parent);
    if (ts_tree_cursor_goto_first_child(&cursor)) {
        do {
            TSNode n = ts_tree_cursor_current_node(&cursor);
            if (ts_node_is_named(n)) item(w, n, depth);
        } while (w->rc == 0 && ts_tree_cursor_goto_next_sibling(&cursor));
    }
    ts_tree_cursor_delete(&cursor);
}

int c_parse(struct c_parser *p, const char *text, size_t len, struct c_unit *unit)
{
    struct walk w = {p, text, text, unit, 0, (uint32_t)len, UINT32_MAX, 0};
    TSTree *tree;
    TSNode root;
    int blanked;

    unit->symbol_count = unit->ref_count = unit->include_count = 0;
    unit->had_errors = false;
    unit->line_count = 0;
    if (len > UINT32_MAX) return -EFBIG;
    for (size_t i = 0; i < len; i++)
        unit->line_count += text[i] == '\n';
    if (len && text[len - 1] != '\n') unit->line_count++;
    blanked = blank_bodies(p, text, (uint32_t)len);
    if (blanked < 0) return blanked;
    if (blanked) w.parsed = p->blank;
    tree = ts_parser_parse_string(p->ts, NULL, w.parsed, (uint32_t)len);
    if (!tree) return -ENOMEM;
    root = ts_tree_root_node(tree);
    unit->had_errors = ts_node_has_error(root);
    file_scope(&w, root, 0);
    ts_tree_delete(tree);
    return w.rc;
}

void c_unit_release(struct c_unit *unit)
{
    free(unit->symbols);
    free(unit->refs);
    free(unit->includes);
    memset(unit, 0, sizeof(*unit));
}
