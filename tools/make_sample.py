"""Build the embedded sample dataset `malaria_nb/sample/` from the NIH dev subset.

Usage: python tools/make_sample.py [SRC] [DEST]
(defaults: ../shared/data/nih-malaria-dev and malaria_nb/sample)

Picks 180 Parasitized and 180 Uninfected cells from 40 slides (30 slides of infected
patients, 10 of healthy ones), deterministically (seed 42), keeps the original file
names and `cell_images/<label>/` layout, and writes a manifest with slide ids and sha256.
"""
import csv, hashlib, random, shutil, sys
from collections import defaultdict
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else '../shared/data/nih-malaria-dev')
dest = Path(sys.argv[2] if len(sys.argv) > 2 else 'malaria_nb/sample')
rows = list(csv.DictReader(open(src/'manifest.tsv'), delimiter='\t'))
rng = random.Random(42)
by = defaultdict(list)
for r in rows: by[(r['slide'], r['label'])].append(r)
slides = sorted({r['slide'] for r in rows}, key=lambda s: int(s[1:]))
infected = [s for s in slides if len(by[(s, 'Parasitized')]) >= 6]
healthy = [s for s in slides if not by[(s, 'Parasitized')]]
chosen_inf, chosen_h = sorted(rng.sample(infected, 30)), sorted(rng.sample(healthy, 10))
pick = []
for s in chosen_inf: pick += rng.sample(by[(s, 'Parasitized')], 6)
unin_slides = chosen_inf + chosen_h
for i, s in enumerate(unin_slides): pick += rng.sample(by[(s, 'Uninfected')], 5 if i < 20 else 4)
assert sum(r['label'] == 'Parasitized' for r in pick) == 180 and len(pick) == 360, len(pick)
if dest.exists(): shutil.rmtree(dest)
out = []
for r in sorted(pick, key=lambda r: r['file']):
    f = dest/r['file']
    f.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src/r['file'], f)
    assert hashlib.sha256(f.read_bytes()).hexdigest() == r['sha256'], f
    out.append(r)
with open(dest/'manifest.tsv', 'w', newline='') as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter='\t', lineterminator='\n')
    w.writeheader(); w.writerows(out)
print(f'{len(out)} images from {len({r["slide"] for r in out})} slides written to {dest}')
