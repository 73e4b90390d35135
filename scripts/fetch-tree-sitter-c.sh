#!/bin/sh
# SPDX-License-Identifier: MIT
# Puts the C grammar of tree-sitter, pinned, into the directory given ($1,
# build/tree-sitter-c): `npm pack` from the npm registry, the tarball's
# sha512 checked against the pin, then unpacked. Nothing of it is committed.
#
# 0.23.6 is the newest tree-sitter-c whose src/parser.c speaks ABI 14, which
# Debian 12's libtree-sitter (0.20.7) loads; 0.24 does not load.
set -eu

version=0.23.6
integrity=sha512-0dxXKznVyUA0s6PjNolJNs2yF87O5aL538A/eR6njA5oqX3C3vH4vnx3QdOKwuUdpKEcFdHuiDpRKLLCA/tjvQ==
out=$1

[ -f "$out/src/parser.c" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
    "$(dirname "$0")/install-deps.sh" npm
fi
work="$out.tmp"
rm -rf "$work"
mkdir -p "$work"
echo "fetch: tree-sitter-c@$version from the npm registry"
(cd "$work" && npm pack --silent "tree-sitter-c@$version" >/dev/null)
tarball="$work/tree-sitter-c-$version.tgz"
want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
have=$(sha512sum "$tarball" | cut -d' ' -f1)
if [ "$want" != "$have" ]; then
    echo "fetch: tree-sitter-c-$version.tgz: sha512 $have is not the pinned $want" >&2
    rm -rf "$work"
    exit 1
fi
tar -xzf "$tarball" -C "$work"
rm -rf "$out"
mv "$work/package" "$out"
rm -rf "$work"
