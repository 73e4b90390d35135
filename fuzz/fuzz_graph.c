/* SPDX-License-Identifier: MIT */
/*
 * fuzz_graph.c: a graph file of arbitrary bytes is opened at the sequence
 * its header names, and every node read into an index; any damage must be
 * an error, never a crash or a read out of bounds.
 */
#include <stdio.h>
#include <string.h>

#include "coding.h"
#include "format.h"
#include "fuzz_util.h"
#include "graph.h"
#include "graph_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kdb_options options;
    struct env env;
    struct vfs_mem *mem = fuzz_disk(&env, &options);
    uint64_t sequence = size >= 24 ? get_le64(data + GRAPH_HEADER_SEQUENCE_OFFSET) : 0;
    struct graph_base *base = NULL;

    fuzz_file(mem, GRAPH_NAME, data, size);
    for (int brief = 0; brief < 2; brief++) { /* mapped, then read as a brief handle does */
        struct graph g;
        if (graph_base_open(&env, FUZZ_DB, sequence, brief, &base) != 0) continue;
        graph_init(&g, &env, 7);
        if (graph_attach(&g, base) == 0) {
            uint8_t id[KDB_ID_SIZE];
            uint32_t node;
            memset(id, 0x5a, sizeof(id));
            (void)graph_node(&g, id, true, &node);
            (void)graph_load_all(&g);
        }
        graph_release(&g);
    }
    vfs_mem_free(mem);
    return 0;
}
