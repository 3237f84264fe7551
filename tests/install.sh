#!/bin/sh
# `make install` into a temporary prefix, then a program compiled against it with `pkg-config --cflags --libs nvc`,
# linked shared and static, must build and run. Also checks the SONAME and symlinks, that the shared library
# exports only nvc_* symbols, that the program really uses the installed library, and DESTDIR staging.
BUILD=${BUILD:-build}
command -v pkg-config >/dev/null || { echo "skip: pkg-config not installed"; exit 77; }
CC=${CC:-cc}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
fail=0
no() { echo "FAIL: $*"; fail=1; }

version=$(sed -n 's/^#define NVC_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/nvc/nvc.h | paste -sd.)
major=${version%%.*}
# A nested make from inside `make check` would inherit the parent's jobserver; it only copies files.
env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory install PREFIX="$prefix" BUILD="$BUILD" \
    ${SAN:+SAN=$SAN} > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; no "make install"; exit 1; }

lib="$prefix/lib"
for f in include/nvc/nvc.h lib/libnvc.a "lib/libnvc.so.$version" lib/pkgconfig/nvc.pc; do
    [ -f "$prefix/$f" ] || no "$f not installed"
done
[ "$(readlink "$lib/libnvc.so.$major")" = "libnvc.so.$version" ] || no "libnvc.so.$major symlink"
[ "$(readlink "$lib/libnvc.so")" = "libnvc.so.$version" ] || no "libnvc.so symlink"
readelf -d "$lib/libnvc.so.$version" | grep -q "SONAME.*\[libnvc.so.$major\]" || no "SONAME is not libnvc.so.$major"
others=$(nm -D --defined-only "$lib/libnvc.so.$version" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | grep -v '^nvc_' | grep -v '^_' || true)
[ -z "$others" ] && [ -n "$(nm -D --defined-only "$lib/libnvc.so.$version" | grep ' nvc_version$')" ] ||
    no "exported symbols other than nvc_*: $others"

export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$(pkg-config --modversion nvc)" = "$version" ] || no "pkg-config --modversion nvc is not $version"

cat > "$tmp/prog.c" <<'C'
#include <nvc/nvc.h>
#include <stdio.h>
#include <string.h>
#define STR2(x) #x
#define STR(x) STR2(x)
int main(void)
{
    const char *v = nvc_version();
    const char *want = STR(NVC_VERSION_MAJOR) "." STR(NVC_VERSION_MINOR) "." STR(NVC_VERSION_PATCH);
    printf("nvc %s: %s\n", v, nvc_strerror(NVC_EINVALDATA));
    return strcmp(v, want) != 0 || strcmp(nvc_strerror(NVC_OK), "success") != 0;
}
C
# A library built with sanitizers (make SAN=1 ... check) needs them in the program too.
san=""
nm "$lib/libnvc.a" 2>/dev/null | grep -q __asan && san="-fsanitize=address,undefined"

# shellcheck disable=SC2046
$CC $san -o "$tmp/prog_shared" "$tmp/prog.c" $(pkg-config --cflags --libs nvc) 2> "$tmp/cc.log" ||
    { cat "$tmp/cc.log"; no "shared link"; }
if [ -x "$tmp/prog_shared" ]; then
    readelf -d "$tmp/prog_shared" | grep -q "NEEDED.*\[libnvc.so.$major\]" || no "shared program does not need libnvc.so.$major"
    LD_LIBRARY_PATH="$lib" "$tmp/prog_shared" || no "shared program failed"
    LD_LIBRARY_PATH="$lib" ldd "$tmp/prog_shared" | grep -q "libnvc.so.$major => $lib/" || no "shared program did not load the installed library"
fi

# Static: the same flags, with libnvc.a named explicitly and the private libraries added.
# shellcheck disable=SC2046
$CC $san -o "$tmp/prog_static" "$tmp/prog.c" $(pkg-config --cflags nvc) \
    $(pkg-config --static --libs nvc | sed 's/-lnvc\b/-l:libnvc.a/') 2> "$tmp/cc.log" ||
    { cat "$tmp/cc.log"; no "static link"; }
if [ -x "$tmp/prog_static" ]; then
    ! readelf -d "$tmp/prog_static" | grep -q "NEEDED.*libnvc" || no "static program needs libnvc.so"
    "$tmp/prog_static" || no "static program failed"
fi

# DESTDIR stages the files under a root while nvc.pc names the final prefix.
env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory install DESTDIR="$tmp/stage" PREFIX=/opt/nvc \
    BUILD="$BUILD" ${SAN:+SAN=$SAN} > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; no "DESTDIR install"; }
[ -f "$tmp/stage/opt/nvc/lib/libnvc.a" ] || no "DESTDIR: libnvc.a not staged"
grep -q '^prefix=/opt/nvc$' "$tmp/stage/opt/nvc/lib/pkgconfig/nvc.pc" || no "DESTDIR: nvc.pc prefix"

[ $fail -eq 0 ] && echo "install: shared and static programs built with pkg-config ran against nvc $version"
exit $fail
