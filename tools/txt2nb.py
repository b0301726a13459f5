"""Turn a light text draft into a notebook: a line `# %%` opens a code cell, `# %% [md]` a markdown cell.

Usage: python tools/txt2nb.py DRAFT.py NOTEBOOK.ipynb
Outputs are not kept: run `nbdev-test --save` (or Jupyter) to fill them, then `nbdev-clean`.
"""
import json, sys
from pathlib import Path

def txt2cells(text):
    "Split `text` into (kind, source) pairs at `# %%` markers"
    cells, kind, buf = [], None, []
    def flush():
        if kind is not None:
            src = '\n'.join(buf).strip('\n')
            if src: cells.append((kind, src))
    for line in text.splitlines():
        if line.strip() in ('# %%', '# %% [md]'):
            flush(); kind, buf = ('markdown' if line.strip().endswith('[md]') else 'code'), []
        else: buf.append(line)
    flush()
    return cells

def mk_nb(cells):
    "A notebook dict holding `cells`"
    out = []
    for kind, src in cells:
        c = dict(cell_type=kind, metadata={}, source=src.splitlines(keepends=True))
        if kind == 'code': c.update(execution_count=None, outputs=[])
        out.append(c)
    return dict(cells=out, metadata=dict(kernelspec=dict(display_name='python3', language='python', name='python3')),
                nbformat=4, nbformat_minor=5)

if __name__ == '__main__':
    src, dest = map(Path, sys.argv[1:3])
    dest.write_text(json.dumps(mk_nb(txt2cells(src.read_text())), indent=1) + '\n')
    print(f'{dest}: {len(txt2cells(src.read_text()))} cells')
