#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo: ingests a real C tree (this project's own source), mounts the
# graph at ./demo-mnt, and shows it with real commands and their output.
# The mount stays for you to explore; `make demo-stop` unmounts it.
set -eu
cd "$(dirname "$0")/.."

db=demo-db
mnt=demo-mnt
k=./build/kausal

# A demo mounted before goes first, so that it starts from nothing.
./scripts/demo-stop.sh >/dev/null
rm -rf "$db"
mkdir -p "$mnt"
# Whatever goes wrong before the end, nothing stays mounted.
trap 'fusermount3 -u "$mnt" 2>/dev/null || :' EXIT

show() {
    printf '\n$ %s\n' "$*"
    sh -c "$*" 2>&1 | sed 's/^/  /'
}

cat <<'TEXT'
KausalDB demo
=============

KausalDB stores code as a graph: blocks (files, functions, structs, macros,
...) joined by typed edges (calls, imports, contains, references, ...), in
an LSM-tree engine with a write-ahead log, and you reach it by mounting it
as a directory. Here it ingests its own C source, mounts the graph at
./demo-mnt, and reads it with ls, cat and the kausal command.
TEXT

show "$k init $db"
show "$k ingest $db . --quiet"
show "./build/kausalfs $db $mnt"

cat <<'TEXT'

The source tree, by path: each file is a directory of its symbols, each a
link to the symbol's node in graph/.
TEXT
show "ls $mnt/sources"
show "ls $mnt/sources/engine/db.c | head -12"
show "cat $mnt/sources/engine/db.c/kdb_sync/content"

cat <<'TEXT'

Edges are links, named after what they point to: who calls kdb_sync, what
it calls, and a two-hop walk by path.
TEXT
show "ls $mnt/sources/engine/db.c/kdb_sync/in/calls"
show "ls $mnt/sources/engine/db.c/kdb_sync/out/calls"
show "ls $mnt/sources/engine/wal.c/wal_sync/out/calls/write_chunk/out/calls"
show "getfattr -n user.kausal.metadata $mnt/sources/engine/db.c/kdb_sync"

cat <<'TEXT'

The kausal command works on the mounted database too (the mount's daemon
answers it), by id or by name.
TEXT
show "$k -d $mnt callers kdb_put_edge"
show "$k -d $mnt trace kdb_close --depth 2 | head -12"
show "$k -d $mnt stats"
show "grep -l fdatasync $mnt/sources/engine/*/*/content | head -5"

trap - EXIT
cat <<TEXT

The graph stays mounted at ./$mnt. Try:
  ls $mnt/sources/tools
  cat $mnt/sources/fs/ops.c/kfs_read/content
  find -L $mnt/sources/engine/db.c/kdb_open/out/calls -maxdepth 3 -name content
  $k -d $mnt callers wal_sync --json
  $k -d $mnt get engine/lsm.c:lsm_open
Edit a file and run '$k ingest $db .' again: only the files that changed are read,
and the mount shows it at once. Unmount with: make demo-stop

A bigger tree: the Linux kernel, from Debian's linux-source-6.1 package:
  apt-get install linux-source-6.1
  tar -xf /usr/src/linux-source-6.1.tar.xz -C /tmp
  $k init /tmp/linux.kdb && $k ingest /tmp/linux.kdb /tmp/linux-source-6.1
(55,000 files, 6.1 million blocks: about 2 minutes, under 1 GB of memory and 6.3 GB of disk on 2 cores.)
The tests run with: make test. The benchmarks: make bench, and
build/kausal-bench fs (the mount against tmpfs).
TEXT
