#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the ingester's call edges against the compiler's: GCC's call graph
# (-fcallgraph-info) of this source tree, built without optimization, is the
# reference. A reference edge counts when its caller is a function defined in
# the tree, its callee a function defined in the tree, and the call is written
# in the text (the callee's name then "(" on the line GCC gives for the call:
# not a call a macro expands to). Prints how many of those edges `kausal
# callees` finds (recall), and how many of its edges from the same callers
# the compiler does not have.
#
#   scripts/check-calls.sh [DB]    (DB: an ingest of this tree; made if not given)
set -eu
cd "$(dirname "$0")/.."

build=build/callgraph
work=$(mktemp -d "${TMPDIR:-/tmp}/kausal-check-calls.XXXXXX")
trap 'rm -rf "$work"' EXIT
db=${1:-}
if [ -z "$db" ]; then
    db="$work/db"
    ./build/kausal init "$db" >/dev/null
    ./build/kausal ingest "$db" . --quiet >/dev/null
fi

make --no-print-directory BUILD="$build" OPT=-O0 EXTRA_CFLAGS=-fcallgraph-info all >/dev/null
root=$(pwd)

# The reference: caller-file TAB caller TAB callee, one line per written call.
find "$build" -name '*.ci' ! -path "$build/tree-sitter-c/*" -print0 |
    xargs -0 awk -v root="$root/" '
    function rel(path) {
        if (index(path, root) == 1) return substr(path, length(root) + 1)
        return substr(path, 1, 1) == "/" ? "" : path # relative: to the top of the tree
    }
    /^node:/ {
        match($0, /title: "[^"]*"/); title = substr($0, RSTART + 8, RLENGTH - 9)
        match($0, /label: "[^"]*"/); label = substr($0, RSTART + 8, RLENGTH - 9)
        split(label, parts, "\\\\n"); name = parts[1]; split(parts[2], loc, ":")
        internal = $0 !~ /shape : ellipse/ # a definition; a declaration is drawn as an ellipse
        # Titles are per translation unit: two files may each define their main().
        node_name[FILENAME, title] = name
        if (internal && rel(loc[1]) != "") { def_file[FILENAME, title] = rel(loc[1]); defined[name] = 1 }
        next
    }
    /^edge:/ {
        match($0, /sourcename: "[^"]*"/); src = substr($0, RSTART + 13, RLENGTH - 14)
        match($0, /targetname: "[^"]*"/); dst = substr($0, RSTART + 13, RLENGTH - 14)
        match($0, /label: "[^"]*"/); at = substr($0, RSTART + 8, RLENGTH - 9)
        n++; e_unit[n] = FILENAME; e_src[n] = src; e_dst[n] = dst; e_at[n] = at
    }
    END {
        for (i = 1; i <= n; i++) {
            u = e_unit[i]; src = e_src[i]; dst = e_dst[i]
            if (!((u, src) in def_file)) continue
            callee = ((u, dst) in node_name) ? node_name[u, dst] : dst
            if (!(callee in defined)) continue
            split(e_at[i], loc, ":"); file = loc[1]; line = loc[2] + 0
            if (!(file in lines_read)) {
                lines_read[file] = 1; k = 0
                while ((getline text < file) > 0) source[file, ++k] = text
                close(file)
            }
            text = source[file, line]
            if (text !~ ("(^|[^A-Za-z0-9_])" callee "[ \t]*\\(")) continue
            key = def_file[u, src] "\t" node_name[u, src] "\t" callee
            if (!(key in seen)) { seen[key] = 1; print key }
        }
    }' | sort -u >"$work/reference"

# What kausal says, for the same callers.
cut -f1,2 "$work/reference" | sort -u | while IFS="$(printf '\t')" read -r file caller; do
    ./build/kausal -d "$db" callees "$file:$caller" 2>/dev/null |
        awk -F '\t' -v f="$file" -v c="$caller" '{ print f "\t" c "\t" $2 }'
done | sort -u >"$work/kausal"

total=$(wc -l <"$work/reference")
found=$(comm -12 "$work/reference" "$work/kausal" | wc -l)
extra=$(comm -13 "$work/reference" "$work/kausal" | wc -l)
echo "reference: $total written calls between functions of the tree (gcc -fcallgraph-info)"
echo "found by kausal callees: $found ($(awk -v f="$found" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * f / t : 0 }')%)"
echo "kausal call edges from the same callers that the compiler does not have: $extra"
if [ "${VERBOSE:-}" ]; then
    echo "missed:"
    comm -23 "$work/reference" "$work/kausal" | sed 's/^/  /'
    echo "extra:"
    comm -13 "$work/reference" "$work/kausal" | sed 's/^/  /'
fi
