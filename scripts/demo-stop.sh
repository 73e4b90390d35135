#!/bin/sh
# SPDX-License-Identifier: MIT
# make demo-stop: unmounts the graph `make demo` left at ./demo-mnt, and
# waits for its daemon to have closed the database.
set -eu
cd "$(dirname "$0")/.."

mnt=demo-mnt
if ! grep -qs " $(pwd)/$mnt " /proc/mounts; then
    echo "demo-stop: nothing is mounted at ./$mnt"
    exit 0
fi
pid=$(cat demo-db/LOCK 2>/dev/null || :)
fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
# fusermount3 returns before the daemon has closed the database.
i=0
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 500 ]; do
    sleep 0.01
    i=$((i + 1))
done
echo "demo-stop: unmounted ./$mnt"
