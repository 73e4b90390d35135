/* SPDX-License-Identifier: MIT */
/*
 * namespace.c: inode numbers for the names of the mounted tree (see
 * namespace.h). Keys live in one array indexed by inode number less one,
 * found again through an open-addressing hash table of those numbers; a
 * key is never removed, so a number is never reused within a mount.
 */
#include "namespace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const ns_root_names[4] = {"README", "blocks", "graph", "sources"};

static uint64_t key_hash(const struct ns_key *k)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the key's bytes */
    const uint8_t *p = (const uint8_t *)k;

    for (size_t i = 0; i < sizeof(*k); i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static int slots_grow(struct namespace *ns)
{
    size_t count = ns->slots ? (ns->slot_mask + 1) * 2 : 1024;
    uint64_t *slots = calloc(count, sizeof(*slots));

    if (!slots) return -ENOMEM;
    for (size_t i = 0; i < ns->key_count; i++) {
        size_t at = (size_t)key_hash(&ns->keys[i]) & (count - 1);
        while (slots[at])
            at = (at + 1) & (count - 1);
        slots[at] = i + 1;
    }
    free(ns->slots);
    ns->slots = slots;
    ns->slot_mask = count - 1;
    return 0;
}

struct ns_key ns_key(enum ns_kind kind, const uint8_t *id, unsigned type, const uint8_t *far)
{
    struct ns_key k;

    memset(&k, 0, sizeof(k));
    k.kind = (uint8_t)kind;
    k.type = (uint8_t)type;
    if (id) memcpy(k.id, id, KDB_ID_SIZE);
    if (far) memcpy(k.far, far, KDB_ID_SIZE);
    return k;
}

uint64_t ns_find(const struct namespace *ns, const struct ns_key *k)
{
    if (!ns->slots) return 0;
    for (size_t at = (size_t)key_hash(k) & ns->slot_mask; ns->slots[at];
         at = (at + 1) & ns->slot_mask) {
        if (memcmp(&ns->keys[ns->slots[at] - 1], k, sizeof(*k)) == 0) return ns->slots[at];
    }
    return 0;
}

uint64_t ns_ino(struct namespace *ns, const struct ns_key *k)
{
    uint64_t ino = ns_find(ns, k);
    size_t at;

    if (ino) return ino;
    if (!ns->slots || 2 * (ns->key_count + 1) > ns->slot_mask + 1) {
        if (slots_grow(ns) < 0) return 0;
    }
    if (ns->key_count == ns->key_capacity) {
        size_t capacity = ns->key_capacity ? ns->key_capacity * 2 : 1024;
        struct ns_key *keys = realloc(ns->keys, capacity * sizeof(*keys));
        if (!keys) return 0;
        ns->keys = keys;
        ns->key_capacity = capacity;
    }
    at = (size_t)key_hash(k) & ns->slot_mask;
    while (ns->slots[at])
        at = (at + 1) & ns->slot_mask;
    ns->keys[ns->key_count++] = *k;
    ns->slots[at] = ns->key_count;
    return ns->key_count;
}

const struct ns_key *ns_key_of(const struct namespace *ns, uint64_t ino)
{
    return ino >= 1 && ino <= ns->key_count ? &ns->keys[ino - 1] : NULL;
}

int ns_init(struct namespace *ns)
{
    memset(ns, 0, sizeof(*ns));
    for (enum ns_kind kind = NS_ROOT; kind <= NS_SOURCES; kind++) {
        struct ns_key k = ns_key(kind, NULL, 0, NULL);
        if (ns_ino(ns, &k) != (uint64_t)kind) {
            ns_release(ns);
            return -ENOMEM;
        }
    }
    return 0;
}

void ns_release(struct namespace *ns)
{
    free(ns->keys);
    free(ns->slots);
    memset(ns, 0, sizeof(*ns));
}

bool ns_is_dir(enum ns_kind kind)
{
    return kind != NS_README && kind != NS_BLOCK && !ns_is_link(kind);
}

bool ns_parse_id(const char *name, uint8_t *id)
{
    return kdb_id_from_hex(name, strlen(name), (struct kdb_id *)(void *)id) == 0;
}

bool ns_parse_link_target(const char *target, uint8_t *id)
{
    size_t end = strlen(target);
    size_t start;

    while (end > 1 && target[end - 1] == '/')
        end--;
    start = end;
    while (start > 0 && target[start - 1] != '/')
        start--;
    return kdb_id_from_hex(target + start, end - start, (struct kdb_id *)(void *)id) == 0;
}
