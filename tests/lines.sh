#!/bin/sh
# The #line directives of the code hcachegen writes, as a debugger sees them.
#
#   tests/lines.sh BUILD_DIR [RESULTS]
#
# Each .hcache below is generated, and its .hc.c compiled with -g (gcc at
# -O0 and -O2, clang at -O2); then the line table is read back with
# objdump --dwarf=decodedline, and each address's function with addr2line.
# Every row that names the .hcache must name a line that exists and lies
# inside the declaration (entity, query, exec, policy, cacheable) that the
# function belongs to: shop_user__key to entity user, shop_fib__key to
# cacheable fib. Every row that names the .hc.c must name a line of it that
# is not a directive. In the outputs themselves, every #line back to an
# output names the line that follows it, and every #line to the .hcache a
# line it has. With llvm-dwarfdump, the declarations' lines in the debug
# information (struct members: an entity's fields) must be lines of an
# entity. Appends "<variant> lines <passed> <failed> 0" to RESULTS if given.
set -u
dir=$1
results=${2:-}
gen="$dir/hcachegen"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { echo "lines: FAILED $*" >&2; failed=$((failed + 1)); }

# The declarations of a .hcache, one per line: NAME FIRST LAST KIND, where
# a declaration runs from its keyword (at the start of a line) to the line
# before the next one.
spans() {
    awk '/^(entity|query|exec|policy|cacheable)[ \t]/ {
             name = $2; sub(/[({ \t].*/, "", name)
             if (n) last[n] = NR - 1
             n++; names[n] = name; first[n] = NR; kind[n] = $1 }
         END { if (n) last[n] = NR
               for (i = 1; i <= n; i++) print names[i], first[i], last[i], kind[i] }' "$1"
}

# check SRC CC OPT: generate, compile, read the line table, check.
check() {
    src=$1 cc=$2 opt=$3
    stem=$(basename "$src" .hcache)
    out="$tmp/$(echo "$src" | tr / _)"
    mkdir -p "$out"
    if ! "$gen" -o "$out" "$src"; then bad "$src: hcachegen failed"; return; fi
    obj="$out/$stem.$cc$opt.o"
    if ! $cc -std=c11 -g $opt -Iruntime/include -I"$out" -c "$out/$stem.hc.c" -o "$obj"; then
        bad "$src: does not compile with $cc $opt"
        return
    fi
    module=$(sed -n 's/^module[ \t]*\([A-Za-z0-9_]*\)[ \t]*;.*/\1/p' "$src" | head -n 1)
    spans "$src" > "$out/spans"
    nsrc=$(wc -l < "$src")
    nout=$(wc -l < "$out/$stem.hc.c")
    hcache=$(basename "$src")

    # FILE LINE ADDRESS, for the rows of the .hcache and of the .hc.c.
    objdump --dwarf=decodedline "$obj" |
        awk -v a="$hcache" -v b="$stem.hc.c" \
            '($1 == a || $1 == b) && $2 ~ /^[0-9]+$/ && $3 ~ /^(0x[0-9a-f]+|0)$/ { print $1, $2, $3 }' \
        > "$out/rows"
    if [ ! -s "$out/rows" ]; then bad "$src ($cc $opt): no line table rows"; return; fi
    # The function each address's .hcache line belongs to: addr2line -i
    # lists the frames from the innermost (an inlined runtime call) out,
    # each as a function and where it is; the first one in the .hcache.
    awk '{ print $3 }' "$out/rows" | addr2line -f -i -a -e "$obj" |
        awk -v hcache="$hcache" '
            function flush() { if (addr != "") print addr, (ours != "" ? ours : first) }
            /^0x/ { flush(); addr = $1; sub(/^0x0*/, "", addr); if (addr == "") addr = "0"
                    first = ""; ours = ""; next }
            { func = $1; getline loc
              if (first == "") first = func
              n = split(loc, p, "/"); file = p[n]; sub(/:.*/, "", file)
              if (file == hcache && ours == "") ours = func }
            END { flush() }' \
        > "$out/funcs"
    before=$failed
    awk -v hcache="$hcache" -v nsrc="$nsrc" -v nout="$nout" -v module="$module" \
        -v spans="$out/spans" -v funcs="$out/funcs" -v cfile="$out/$stem.hc.c" -v what="$src ($cc $opt)" '
        BEGIN {
            while ((getline l < spans) > 0) { split(l, f, " "); n++; nm[n] = f[1]; lo[n] = f[2]; hi[n] = f[3] }
            while ((getline l < funcs) > 0) { split(l, f, " "); fn[f[1]] = f[2] }
            while ((getline l < cfile) > 0) { c++; directive[c] = l ~ /^#line/ }
            bad = 0
        }
        {
            addr = $3; sub(/^0x0*/, "", addr); if (addr == "") addr = "0"
            line = $2 + 0
            if (line == 0) next                     # DWARF: no line (compiler-made code)
            if ($1 != hcache) {
                if (line < 1 || line > nout || directive[line]) {
                    why = (line > nout) ? "does not exist" : "is a directive"
                    printf "%s: the line table names %s line %d, which %s\n", what, $1, line, why > "/dev/stderr"
                    bad++
                }
                next
            }
            func = fn[addr]
            if (line < 1 || line > nsrc) {
                printf "%s: %s names %s line %d of %d\n", what, func, hcache, line, nsrc > "/dev/stderr"
                bad++
                next
            }
            # The declaration the function belongs to: the longest name
            # that the function, less the module prefix, starts with.
            rest = func; sub("^" module "_", "", rest)
            best = 0
            for (i = 1; i <= n; i++)
                if ((rest == nm[i] || index(rest, nm[i] "_") == 1) && (!best || length(nm[i]) > length(nm[best])))
                    best = i
            if (!best) {
                printf "%s: %s (at %s) names %s line %d but belongs to no declaration\n", what, func, $3, hcache, line > "/dev/stderr"
                bad++
            } else if (line < lo[best] || line > hi[best]) {
                printf "%s: %s names %s line %d, outside %s (lines %d-%d)\n", what, func, hcache, line,
                       nm[best], lo[best], hi[best] > "/dev/stderr"
                bad++
            }
        }
        END { exit bad > 0 }' "$out/rows" || bad "$src ($cc $opt): the line table"
    [ "$failed" -eq "$before" ] && ok

    # The directives themselves, in both outputs.
    for ext in h c; do
        awk -v nsrc="$nsrc" -v hcache="$hcache" -v what="$out/$stem.hc.$ext" '
            /^#line / {
                n = $2 + 0; file = $3; gsub(/"/, "", file)
                if (file ~ /\.hc\.[ch]$/ && n != NR + 1) {
                    printf "%s:%d: #line %d, but the next line is %d\n", what, NR, n, NR + 1 > "/dev/stderr"; bad++
                } else if (file !~ /\.hc\.[ch]$/ && (n < 1 || n > nsrc)) {
                    printf "%s:%d: #line %d of a %d-line %s\n", what, NR, n, nsrc, hcache > "/dev/stderr"; bad++
                }
            }
            END { exit bad > 0 }' "$out/$stem.hc.$ext" && ok || bad "$src: the directives of $stem.hc.$ext"
    done

    # The declarations' lines (struct members: an entity's fields).
    if command -v llvm-dwarfdump > /dev/null; then
        llvm-dwarfdump --debug-info "$obj" |
            awk -v hcache="$hcache" -v spans="$out/spans" -v what="$src ($cc $opt)" '
                BEGIN { while ((getline l < spans) > 0) { split(l, f, " "); n++; lo[n] = f[2]; hi[n] = f[3]; kind[n] = f[4] } }
                /DW_AT_decl_file/ { ours = index($0, "/" hcache "\"") > 0 || index($0, "\"" hcache "\"") > 0 }
                /DW_AT_decl_line/ && ours {
                    line = $0; gsub(/[^0-9]/, "", line); line += 0
                    inside = 0
                    for (i = 1; i <= n; i++) if (kind[i] == "entity" && line >= lo[i] && line <= hi[i]) inside = 1
                    if (!inside) { printf "%s: a declaration at %s line %d, in no entity\n", what, hcache, line > "/dev/stderr"; bad++ }
                }
                END { exit bad > 0 }' && ok || bad "$src ($cc $opt): the debug information"
    fi
}

for src in tests/golden/shop.hcache examples/shop/shop.hcache tests/dao/dao.hcache tests/codegen/cg.hcache; do
    check "$src" gcc -O0
    check "$src" gcc -O2
    command -v clang > /dev/null && check "$src" clang -O2
done

echo "lines: $passed passed, $failed failed"
[ -n "$results" ] && echo "$(basename "$dir") lines $passed $failed 0" >> "$results"
[ "$failed" -eq 0 ]
