"""Fail if a stored notebook output shows a learner what it should not: progress-bar residue, a warning, a path of
the machine that ran it, or a figure over 150 kB (the repository stays light). With --fix, strip progress residue
from stream outputs (the final text of each line, the progress lines dropped); paths and warnings are reported for a
person to fix.

With --fix also: a figure over 150 kB is stored with a 256-colour palette (the same pixels, to the eye; a Grad-CAM
grid of 27 panels went from 299 kB to 81 kB), warnings printed to stderr (an import's deprecation notice) are
dropped, and the temporary folders of a test run (/tmp/tmpXXXX/) are cut from stored text, leaving the names
relative to them.

Usage: python tools/check_outputs.py [--fix] [NOTEBOOK ...]   (default: nbs/*.ipynb)
"""
import base64, io, json, re, sys
from pathlib import Path

PROGRESS = re.compile(r'█|\|[-█]{10,}\||^\s*Epoch \d+/\d+ :')
PATH = re.compile(r'(?<![\w.])/(?:tmp|work|root|home|Users|content|private)/')
WARNING = re.compile(r'\b\w*Warning\b|warnings\.warn\(')
MAX_FIGURE = 150_000   # bytes of a stored image

def too_big(k, v) -> bool:
    "Is the output `v` of type `k` an image of more than `MAX_FIGURE` bytes (stored as base64)?"
    return k.startswith('image/') and len(''.join(v)) * 3 // 4 > MAX_FIGURE

def texts(o):
    "The text of an output, as (key, text) pairs"
    if o['output_type'] == 'stream': return [('text', ''.join(o['text']))]
    return [(k, ''.join(v)) for k, v in o.get('data', {}).items() if k.startswith('text/')]

def clean_stream(text):
    "The text a terminal would finally show, without progress-bar lines"
    lines = [l.split('\r')[-1] if l.split('\r')[-1].strip() else next((s for s in reversed(l.split('\r')) if s.strip()), '')
             for l in text.split('\n')]
    return '\n'.join(l for l in lines if not PROGRESS.search(l))

def problems(nb):
    "(cell index, what) for every output a learner should not see"
    res = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs', []):
            if o['output_type'] == 'stream' and o.get('name') == 'stderr': res.append((i, 'stderr output'))
            for k, v in o.get('data', {}).items():
                if too_big(k, v): res.append((i, f'figure over {MAX_FIGURE // 1000} kB'))
            for _, t in texts(o):
                if PROGRESS.search(t) or '\r' in t: res.append((i, 'progress residue'))
                if PATH.search(t): res.append((i, 'machine path'))
                if WARNING.search(t): res.append((i, 'warning'))
    return sorted(set(res))

TMP = re.compile(r'/tmp/tmp\w+/')

def lighter_png(b64:str) -> str:
    "The base64 PNG `b64` with a 256-colour palette, if that makes it smaller"
    from PIL import Image
    buf = io.BytesIO()
    Image.open(io.BytesIO(base64.b64decode(b64))).convert('RGB').quantize(256).save(buf, 'PNG', optimize=True)
    new = base64.b64encode(buf.getvalue()).decode()
    return new if len(new) < len(b64) else b64

def fix(nb):
    "Strip progress residue and warnings from `nb`'s stream outputs and temporary folders from its text; lighten big PNGs"
    for c in nb['cells']:
        outs = []
        for o in c.get('outputs', []):
            if o['output_type'] == 'stream':
                t = clean_stream(''.join(o['text'])).strip('\n')
                if not t.strip() or (o.get('name') == 'stderr' and WARNING.search(t)): continue
                o['text'] = (t + '\n').splitlines(keepends=True)
            for k, v in o.get('data', {}).items():
                if k.startswith('text/'): o['data'][k] = TMP.sub('', ''.join(v)).splitlines(keepends=True)
                if k == 'image/png' and too_big(k, v): o['data'][k] = lighter_png(''.join(v))
            if 'text' in o: o['text'] = TMP.sub('', ''.join(o['text'])).splitlines(keepends=True)
            outs.append(o)
        if 'outputs' in c: c['outputs'] = outs
    return nb

def main(args):
    do_fix = '--fix' in args
    fns = [Path(a) for a in args if a != '--fix'] or sorted(Path('nbs').glob('*.ipynb'))
    bad = 0
    for fn in fns:
        nb = json.loads(fn.read_text())
        if do_fix:
            fix(nb); fn.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
        for i, what in problems(nb):
            print(f'{fn} cell {i}: {what}'); bad += 1
    if bad: print(f'{bad} stored output(s) a learner should not see: clean them (--fix for progress residue) or re-run the cell quietly')
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
