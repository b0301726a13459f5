"""The import graph of the library (`malaria_nb/*.py`), read from the code's own import statements, and its circles.

Every `import` and `from ... import` counts, at the top of a module or inside a function, so a module that imports
another only when a function runs still makes an arrow. A circle (a module that imports, through others, a module that
imports it) means data or control can leave a module and come back into it; the course's layers must go one way.

Usage: python tools/import_graph.py          # the arrows, then the circles; exit status 1 if there is one
"""
import ast, sys
from pathlib import Path

def import_graph(lib=Path('malaria_nb')) -> dict:
    "module -> sorted modules of `lib` it imports"
    mods = {p.stem: p for p in Path(lib).glob('*.py') if p.stem not in ('_modidx', '__init__')}
    g = {}
    for m, p in mods.items():
        deps = set()
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom):
                name = n.module or ''
                if n.level == 1: deps.add(name.split('.')[0])
                elif name.startswith('malaria_nb.'): deps.add(name.split('.')[1])
                elif name == 'malaria_nb': deps.update(a.name for a in n.names)
            elif isinstance(n, ast.Import):
                deps.update(a.name.split('.')[1] for a in n.names if a.name.startswith('malaria_nb.'))
        g[m] = sorted(d for d in deps if d in mods and d != m)
    return g

def circles(g:dict) -> list:
    "The strongly connected groups of more than one module (Tarjan's algorithm)"
    index, low, stack, on, out = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index); stack.append(v); on.add(v)
        for w in g[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(g):
        if v not in index: visit(v)
    return out

if __name__ == '__main__':
    g = import_graph()
    for m in sorted(g): print(f'{m:12} -> {", ".join(g[m]) or "-"}')
    found = circles(g)
    print('circles:', '; '.join(' <-> '.join(c) for c in found) if found else 'none')
    sys.exit(1 if found else 0)
