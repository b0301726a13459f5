"""Replace text in one cell of a notebook, keeping every other cell (ids, outputs) as it is.

Usage: python tools/nbsub.py NOTEBOOK OLD_FILE NEW_FILE   (the old and new text are read from files)
The old text must occur in exactly one cell, once.
"""
import json, sys
from pathlib import Path

nb_fn, old, new = Path(sys.argv[1]), Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()
nb = json.loads(nb_fn.read_text())
hits = [c for c in nb['cells'] if old in ''.join(c['source'])]
if len(hits) != 1: sys.exit(f'{nb_fn}: the old text is in {len(hits)} cells, not 1')
src = ''.join(hits[0]['source'])
if src.count(old) != 1: sys.exit(f'{nb_fn}: the old text occurs {src.count(old)} times in its cell')
hits[0]['source'] = src.replace(old, new).splitlines(keepends=True)
nb_fn.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
print(f'{nb_fn}: replaced')
