"""Run course notebooks in the `real` profile (notebook 00) and store their outputs: the pages a learner reads.

The notebook runs as `nbdev-test` runs it (same cells, same working folder) but without `IN_TEST`, so `course_profile()`
picks the real profile from `MALARIA_NB_DATA`. Outputs are written back by cell id, only into code cells whose source
did not change while the notebook ran, so prose can be edited meanwhile; then `tools/check_outputs.py --fix` cleans them.

Usage: MALARIA_NB_DATA=../shared/data/nih-malaria-dev python tools/run_real.py nbs/03_resnet34.ipynb [...]
       ... python tools/run_real.py --only ID[,ID...] nbs/02_data.ipynb   (store only these cells' outputs: new cells
       beside stored timings that the prose quotes)
"""
import json, os, sys, time
from pathlib import Path

def run(fn:Path):
    "Execute `fn` as `nbdev-test` would (its cell filter), without `IN_TEST`; the executed notebook as a dict"
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    from execnb.shell import CaptureShell
    from fastcore.nbio import nb2dict
    from fastcore.xtras import working_directory
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    k = CaptureShell(fn)
    with working_directory(fn.parent):
        k.run_all(nb, exc_stop=True, preproc=_skip_cell(nb, None, None), cell_timeout=None)
    return nb2dict(nb)

def store(fn:Path, ran:dict, started:dict, only=None) -> int:
    "Copy outputs from `ran` into `fn` for code cells whose source is as it was at the start (`started`), or only cells `only`; how many"
    src = json.loads(fn.read_text())
    outs = {c['id']: c for c in ran['cells'] if c['cell_type'] == 'code'}
    n = 0
    for c in src['cells']:
        if c['cell_type'] != 'code' or c['id'] not in outs or (only and c['id'] not in only): continue
        if ''.join(c['source']) != started.get(c['id']): continue
        c['outputs'] = outs[c['id']].get('outputs', [])
        n += 1
    fn.write_text(json.dumps(src, indent=1, ensure_ascii=False) + '\n')
    return n

def main(args):
    if not os.environ.get('MALARIA_NB_DATA'): sys.exit('run_real.py: set MALARIA_NB_DATA to a folder of NIH cell images (see notebook 00)')
    os.environ.pop('IN_TEST', None)
    os.environ['MALARIA_NB_DATA'] = str(Path(os.environ['MALARIA_NB_DATA']).resolve())
    sys.path.insert(0, str(Path(__file__).parent))
    import check_outputs
    only = None
    if args and args[0] == '--only': only, args = set(args[1].split(',')), args[2:]
    for a in args:
        fn = Path(a).resolve()
        started = {c['id']: ''.join(c['source']) for c in json.loads(fn.read_text())['cells']}
        t0 = time.time()
        ran = run(fn)
        n = store(fn, ran, started, only)
        check_outputs.main(['--fix', str(fn)])
        print(f'{a}: {n} code cells stored, {time.time() - t0:.0f} s', flush=True)

if __name__ == '__main__': main(sys.argv[1:])
