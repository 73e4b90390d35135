/* SPDX-License-Identifier: MIT */
/*
 * fuzz_c_parse.c: the C reader of the ingester on arbitrary bytes: every
 * symbol, ref and include it gives lies inside the text, and nothing
 * crashes.
 */
#include <stdlib.h>
#include <string.h>

#include "c_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct c_parser *parser;
    struct c_unit unit;
    char *text = malloc(size + 1);

    if (!text) return 0;
    if (size) memcpy(text, data, size);
    if (!parser) parser = c_parser_new();
    if (!parser) abort();
    memset(&unit, 0, sizeof(unit));
    if (c_parse(parser, text, size, &unit) == 0) {
        for (size_t i = 0; i < unit.symbol_count; i++) {
            const struct c_symbol *s = &unit.symbols[i];
            if (s->name < text || s->name + s->name_len > text + size || s->start > s->end ||
                s->end > size || s->line_start > s->line_end)
                abort();
        }
        for (size_t i = 0; i < unit.ref_count; i++) {
            const struct c_ref *r = &unit.refs[i];
            if (r->from >= unit.symbol_count || r->name < text ||
                r->name + r->name_len > text + size)
                abort();
        }
    }
    c_unit_release(&unit);
    free(text);
    return 0;
}
