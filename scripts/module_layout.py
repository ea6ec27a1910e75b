#!/usr/bin/env python3
"""Checks the layout rules of a Rust crate's source folder (issue 33) and exits 1 on a breach:
no import cycles between modules (a parent and its child count: `mod.rs` files are tables of
contents), at most MAX_LINES lines in a file before its `#[cfg(test)]`, and optionally at most
N top-level entries.

    scripts/module_layout.py engine/src --max-entries 12
    scripts/module_layout.py src -v        # also prints every module's imports

An import is a `use` or an absolute/relative path (`crate::`, `super::`, `self::`) naming another
module, followed through `pub use` re-exports to the module that defines the item; test modules
are left out. Comments and string literals are skipped by a small lexer."""
import os, re, sys
MAX_LINES = 600
root = sys.argv[1]
def modpath(f):
    rel = os.path.relpath(f, root)[:-3].split(os.sep)
    if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
    return tuple(rel)
files = {}
for d, _, fs in os.walk(root):
    for n in fs:
        if n.endswith('.rs'): files[modpath(os.path.join(d, n))] = os.path.join(d, n)
mods = set(files)
def strip(src):
    """Removes comments, string and char literals (a small Rust lexer)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); i = n if j < 0 else j
        elif src.startswith('/*', i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith('/*', i): depth += 1; i += 2
                elif src.startswith('*/', i): depth -= 1; i += 2
                else: i += 1
        elif c == 'r' and re.match(r'r#*"', src[i:i+10]) and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')):
            m = re.match(r'r(#*)"', src[i:]); close = '"' + m.group(1)
            j = src.find(close, i + len(m.group(0))); i = n if j < 0 else j + len(close); out.append('""')
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == '\\' else 1
            i += 1; out.append('""')
        elif c == "'":
            m = re.match(r"'(\\[^']*|[^'\\])'", src[i:])
            if m: i += len(m.group(0)); out.append("' '")
            else: out.append(c); i += 1
        else:
            out.append(c); i += 1
    return ''.join(out)
def expand(tree):
    # tree like a::{b, c::{d}} -> list of paths
    tree = tree.strip()
    m = re.match(r'^([\w:]*?)(::)?\{(.*)\}$', tree, re.S)
    if not m:
        return [tree.split(' as ')[0].strip()]
    prefix = m.group(1); inner = m.group(3)
    parts, depth, cur = [], 0, ''
    for ch in inner:
        if ch == '{': depth += 1
        if ch == '}': depth -= 1
        if ch == ',' and depth == 0: parts.append(cur); cur = ''
        else: cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if not p: continue
        for e in expand(p):
            out.append(prefix + ('::' + e if prefix and e != 'self' else ('' if e == 'self' else e)) if prefix else e)
    return out
def resolve(cur, path):
    segs = [s for s in path.split('::') if s]
    if not segs: return None
    if segs[0] == 'crate': base, segs = (), segs[1:]
    elif segs[0] in ('super', 'self'):
        base = cur
        while segs and segs[0] in ('super', 'self'):
            if segs[0] == 'super': base = base[:-1]
            segs = segs[1:]
    elif cur + (segs[0],) in mods or (segs[0],) in mods:
        base = cur if cur + (segs[0],) in mods else ()
    else: return None
    best = base
    for i in range(len(segs)):
        cand = base + tuple(segs[:i+1])
        if cand in mods: best = cand
        else:
            seg = segs[i]
            target = reexports.get((best, seg))
            if target is not None and target != best: return target
            break
    else:
        pass
    return best
reexports = {}
sources = {}
for m, f in files.items():
    src = strip(open(f).read())
    cut = re.search(r'^#\[cfg\(test\)\]', src, re.M)
    if cut: src = src[:cut.start()]
    sources[m] = src
for _ in range(3):
    for m, src in sources.items():
        for u in re.finditer(r'\bpub(?:\([\w ]+\))?\s+use\s+([^;]+);', src):
            for p in expand(u.group(1)):
                last = p.split(' as ')[-1].split('::')[-1].strip()
                r = resolve(m, p)
                if r is not None and r != m: reexports[(m, last)] = r
edges = {m: set() for m in mods}
def inline_mods(src):
    """(start, end, name) of each inline `mod name { ... }` block."""
    out = []
    for mm in re.finditer(r'\bmod\s+(\w+)\s*\{', src):
        depth, i = 1, mm.end()
        while i < len(src) and depth:
            if src[i] == '{': depth += 1
            elif src[i] == '}': depth -= 1
            i += 1
        out.append((mm.end(), i, mm.group(1)))
    return out
def scope_at(m, blocks, pos):
    inner = tuple(n for (a, b, n) in blocks if a <= pos < b)
    return m + inner
for m, f in files.items():
    src = sources[m]
    blocks = inline_mods(src)
    paths = []
    for u in re.finditer(r'\buse\s+([^;]+);', src):
        paths += [(p, u.start()) for p in expand(u.group(1))]
    paths += [(p.group(1), p.start()) for p in re.finditer(r'\b((?:crate|super|self)(?:::\w+)+)', src)]
    for p, pos in paths:
        scope = scope_at(m, blocks, pos)
        r = resolve(scope, p)
        if r is None: continue
        # a path into one's own inline modules, or to the file's module from inside them, is no import
        while r not in mods and len(r) > len(m): r = r[:-1]
        if r == m: continue
        edges[m].add(r)
def name(m): return '::'.join(m) or 'lib'
cycles = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
print('mutual imports:', len(cycles))
for a, b in cycles: print('  ', name(a), '<->', name(b))
if '-v' in sys.argv:
    for m in sorted(edges): print(name(m), '->', ', '.join(sorted(name(x) for x in edges[m])))
# strongly connected components (Tarjan)
sys.setrecursionlimit(10000)
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in edges: continue
        if w not in index: visit(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(comp)
for v in edges:
    if v not in index: visit(v)
print('import cycles:', len(sccs))
for c in sccs: print('  ', ', '.join(sorted(name(x) for x in c)))

breaches = len(sccs)
long_files = []
for m, f in sorted(files.items()):
    with open(f) as fh:
        lines = fh.read().split('\n')
    cut = next((i for i, l in enumerate(lines) if l.startswith('#[cfg(test)]')), len(lines))
    if cut > MAX_LINES: long_files.append((cut, f))
print('files over %d lines before their tests: %d' % (MAX_LINES, len(long_files)))
for n, f in long_files: print('  ', n, os.path.relpath(f, root))
breaches += len(long_files)
if '--max-entries' in sys.argv:
    most = int(sys.argv[sys.argv.index('--max-entries') + 1])
    entries = [e for e in os.listdir(root) if not e.startswith('.')]
    print('top-level entries: %d (at most %d)' % (len(entries), most))
    breaches += len(entries) > most
sys.exit(1 if breaches else 0)
