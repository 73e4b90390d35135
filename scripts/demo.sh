#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: shows what KausalDB does today, and says what is not built yet.
set -eu
cd "$(dirname "$0")/.."

cat <<'TEXT'
KausalDB demo
=============

Built: libkausal, the storage engine (build/libkausal.a: a write-ahead log,
a memtable, SSTables with bloom filters, size-tiered compaction, typed
edges with an index both ways, traversals), and its benchmark
(build/kausal-bench), the kausal command (build/kausal) and the kausalfs
mount (build/kausalfs), which reads and writes the graph and serves the
kausal command while it is mounted. Not built yet: the C ingester, so there
is no source tree to ingest today; below, a few blocks and edges are made by
hand with kausal, then mounted, read and changed.

What the engine does, measured now on this machine's file system: 20,000
blocks of 1 KiB written, read, updated and deleted; 200 durable writes next
to a bare pwrite+fdatasync; a 64 MiB log replayed as after a crash.

TEXT
./build/kausal-bench storage -n 20000 --sync-n 200 --recovery-mib 64
cat <<'TEXT'

Graph queries on a generated code-like graph of 20,000 blocks (5 out-edges
a block on average, power-law in-degree): edge lists, 1- to 3-hop
traversals, batch gets of 10 blocks.

TEXT
./build/kausal-bench query -n 20000 --iterations 5000

db=$(mktemp -d "${TMPDIR:-/tmp}/kausal-demo.XXXXXX")
mnt="$db/mnt"
# Whatever happens, nothing stays mounted.
trap 'fusermount3 -u "$mnt" 2>/dev/null || :; rm -rf "$db"' EXIT
k() { echo "\$ kausal $*" | sed "s|$db/db|DB|g"; ./build/kausal -d "$db/db" "$@"; }
cat <<'TEXT'

The kausal command on a tiny graph: three functions, two calls.

TEXT
./build/kausal -d "$db/db" init >/dev/null
main=$(printf 'int main(void) { return parse(); }\n' |
    ./build/kausal -d "$db/db" put --uri src/main.c --meta '{"kind":"function","name":"main"}')
parse=$(printf 'int parse(void) { return lex(); }\n' |
    ./build/kausal -d "$db/db" put --uri src/parse.c --meta '{"kind":"function","name":"parse"}')
lex=$(printf 'int lex(void) { return 0; }\n' |
    ./build/kausal -d "$db/db" put --uri src/lex.c --meta '{"kind":"function","name":"lex"}')
./build/kausal -d "$db/db" link "$main" calls "$parse"
./build/kausal -d "$db/db" link "$parse" calls "$lex"
k trace "$main" --depth 3
k callers "$lex"
k path "$main" "$lex"
k get "$parse"
k stats
k check
cat <<'TEXT'

The same database mounted with kausalfs: blocks are files, edges symlinks.

TEXT
mkdir "$mnt"
./build/kausalfs "$db/db" "$mnt"
m() { echo "\$ $*" | sed "s|$mnt|MNT|g; s|$db|DIR|g"; "$@" 2>&1 | sed "s|$mnt|MNT|g"; }
m ls "$mnt" "$mnt/blocks"
m ls -l "$mnt/graph/$main/out/calls"
m cat "$mnt/graph/$main/out/calls/$parse/out/calls/$lex/content"
m getfattr -d "$mnt/blocks/$parse"
m find -L "$mnt/graph/$main/out" -maxdepth 4 -name content
m grep -rl 'return 0' "$mnt/blocks"
cat <<'TEXT'

Changing it through the mount: a new block written like a file, an edge
made with ln -s, both made durable with fsync (sync FILE); then the kausal
command on the mounted database, served by the mount's daemon.

TEXT
util=0123456789abcdef0123456789abcdef
printf '%s\n' "\$ printf 'int util(void) { return 1; }\\n' > MNT/blocks/$util"
printf 'int util(void) { return 1; }\n' >"$mnt/blocks/$util"
m setfattr -n user.kausal.metadata -v '{"kind":"function","name":"util"}' "$mnt/blocks/$util"
m ln -s "../../../$util" "$mnt/graph/$lex/out/calls/$util"
m sync "$mnt/blocks/$util"
m ls "$mnt/graph/$util/in/calls"
k callers "$util"
k trace "$main" --depth 4
printf 'int lex(void) { return util(); }\n' | k put "$lex" --uri src/lex.c \
    --meta '{"kind":"function","name":"lex"}' >/dev/null
m cat "$mnt/blocks/$lex"
fusermount3 -u "$mnt"
echo "\$ fusermount3 -u MNT"
cat <<'TEXT'

Every number above comes from this run. For the full protocol:
  make bench                      (100,000 blocks, a 1 GiB log, a million
                                   keys against LevelDB and RocksDB, then
                                   graph queries on 100,000 blocks)
  make bench-check                (the same against bench/baseline.json)
  build/kausal-bench storage --json
The file format is in engine/FORMAT.md; the tests run with: make test
TEXT
