"""Learning curve: accuracy on the validation slides against the number of training cells, ImageNet weights vs from scratch.

Issue 32: does transfer learning pay on this data, and from how many cells? Each point is one run of the course's
recipe (`train_resumable`, as `malaria-nb train` runs it) on a random subset of N cells of the training slides,
validated on all the cells of the same validation slides (the patient split of the whole folder, seed 42); its
interval is the slide-bootstrap 95% interval of `metrics.json` (1,000 resamples of the validation slides).

The subsets are folders of symbolic links under OUT/data/N (nested: the 300 cells are among the 1,000, and so on),
each with every validation cell, so the cell cache and the patient split work as for any folder. Each run writes
OUT/runs/<config>_<N>/ (resumable: a finished run is read back, not trained again), and OUT/learning_curve.csv gets
one row per run. Plot it with `--plot`, or `plot_curve(csv, png)` from Python.

    PYTHONPATH=$PWD python bench/learning_curve.py --data ../shared/data/nih-malaria-dev/cell_images --epochs 3 --min-iters 100 \\
        --sizes 300,1000,3000 --configs efficientnet_lite0:pretrained,efficientnet_lite0:scratch --out /tmp/lc-runs
    python bench/learning_curve.py --plot /tmp/lc-runs/learning_curve.csv   # writes learning_curve.png beside it
"""
import argparse, csv, json, math, os, random, sys, time
from pathlib import Path

FIELDS = ['config', 'arch', 'pretrained', 'weights', 'train_cells', 'epochs', 'freeze_epochs', 'lr', 'lr_min', 'size', 'bs',
          'accuracy', 'accuracy_lo', 'accuracy_hi', 'sensitivity', 'specificity', 'roc_auc', 'valid_cells', 'valid_slides',
          'best_epoch', 'seconds']


def parse_configs(s:str) -> list:
    "`arch:pretrained` or `arch:scratch`, comma-separated, as (name, arch, pretrained) triples"
    from malaria_nb.train import ARCHS
    res = []
    for c in s.split(','):
        arch, _, how = c.strip().partition(':')
        if arch not in ARCHS or how not in ('pretrained', 'scratch'):
            raise ValueError(f'--configs {c!r}: give ARCH:pretrained or ARCH:scratch, ARCH one of {", ".join(ARCHS)}')
        res.append((f'{arch}_{how}', arch, how == 'pretrained'))
    return res


def parse_sizes(s:str) -> list:
    "Training-set sizes, e.g. '300,1000,all' ('all': every training cell)"
    sizes = []
    for v in s.split(','):
        v = v.strip()
        if v != 'all' and not (v.isdigit() and int(v) >= 1): raise ValueError(f'--sizes {v!r}: give whole numbers of cells, or all')
        sizes.append(v if v == 'all' else int(v))
    return sizes


def patient_split(data:Path, seed:int=42, valid_pct:float=0.2) -> tuple:
    "(training files, validation files, validation slides) of the course's patient split of `data`"
    from malaria_nb.data import cell_files, cell_splitter, slide_of
    files = cell_files(data)
    train_idx, valid_idx = cell_splitter('patient', valid_pct, seed)(files)
    valid = [files[i] for i in valid_idx]
    return [files[i] for i in train_idx], valid, sorted({slide_of(f) for f in valid})


def subset_folder(root:Path, data:Path, train:list, valid:list) -> Path:
    "A folder of symbolic links to the files `train` + `valid`, in `data`'s class folders; made once"
    if (root/'.complete').exists(): return root
    for f in [*train, *valid]:
        link = root/Path(f).relative_to(data)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink(): link.symlink_to(Path(f).resolve())
    (root/'.complete').write_text(f'{len(train)} training + {len(valid)} validation cells\n')
    return root


def epochs_for(n:int, epochs:int, bs:int, min_iters:int) -> int:
    "`epochs`, raised so that a run on `n` cells takes at least `min_iters` steps (small subsets get more epochs)"
    return max(epochs, math.ceil(min_iters / max(n // bs, 1)))


def row(name:str, m:dict) -> dict:
    "A CSV row from a run's `metrics.json`"
    lo, hi = (m.get('intervals') or {}).get('accuracy', [None, None])
    return dict(config=name, arch=m['arch'], pretrained=m['pretrained'], weights=m.get('pretrained_weights') or 'random initialisation',
                train_cells=m['train_images'], epochs=m['epochs'], freeze_epochs=m['freeze_epochs'] if m['pretrained'] else 0,
                lr=m['lr'], lr_min=m['lr_min'], size=m['size'], bs=m['bs'], accuracy=round(m['accuracy'], 4), accuracy_lo=lo, accuracy_hi=hi,
                sensitivity=round(m['sensitivity'], 4), specificity=round(m['specificity'], 4), roc_auc=round(m['roc_auc'], 4),
                valid_cells=m['valid_images'], valid_slides=m['slides'], best_epoch=m['best_epoch'], seconds=m['seconds'])


def plot_curve(csv_file, png=None):
    "Plot `csv_file` (from this script) with the course's `plot_learning_curve` (notebook 05) to a PNG beside it"
    import matplotlib; matplotlib.use('Agg')
    from malaria_nb.finetune import learning_curve, plot_learning_curve
    fig = plot_learning_curve(learning_curve(csv_file))
    png = Path(png or Path(csv_file).with_suffix('.png'))
    fig.savefig(png, dpi=120)
    return png


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', type=Path, help='folder with Parasitized/ and Uninfected/ (default: the embedded sample)')
    p.add_argument('--sizes', default='300,1000,3000,all', help="training-set sizes in cells, comma-separated ('all': every training cell)")
    p.add_argument('--configs', default='efficientnet_lite0:pretrained,efficientnet_lite0:scratch', help='ARCH:pretrained or ARCH:scratch, comma-separated')
    p.add_argument('--epochs', type=int, default=12, help='epochs of each run (default: 12, the recipe\'s)')
    p.add_argument('--min-iters', type=int, default=0, help='raise the epochs of small subsets to at least this many steps (default: 0, off)')
    p.add_argument('--size', type=int, default=64, help='image size (default: 64)')
    p.add_argument('--bs', type=int, default=64, help='batch size (default: 64; at most half the training cells of a subset)')
    p.add_argument('--seed', type=int, default=42, help='seed of the patient split and of the subsets (default: 42)')
    p.add_argument('--workers', type=int, default=0, help='processes decoding images into the cache (default: 0)')
    p.add_argument('--out', type=Path, help='output folder (data/, runs/, learning_curve.csv)')
    p.add_argument('--plot', type=Path, metavar='CSV', help='only plot CSV (from an earlier run) to a PNG beside it')
    a = p.parse_args(argv)
    if a.plot: print(f'wrote {plot_curve(a.plot)}'); return 0
    if a.out is None: p.error('--out is required (or --plot CSV)')
    try: configs, sizes = parse_configs(a.configs), parse_sizes(a.sizes)
    except ValueError as e: p.error(str(e))
    from malaria_nb.data import sample_path
    from malaria_nb.recipe import train_resumable
    data = (a.data or sample_path()).resolve()
    train, valid, valid_slides = patient_split(data, a.seed)
    order = random.Random(a.seed).sample(train, len(train))   # nested subsets: the first N of one shuffled order
    print(f'{data}: {len(train)} training cells, {len(valid)} validation cells of {len(valid_slides)} slides', flush=True)
    rows, out_csv = [], a.out/'learning_curve.csv'
    for n in sizes:
        k = len(train) if n == 'all' else min(n, len(train))
        folder = subset_folder(a.out/'data'/str(k), data, order[:k], valid)
        for name, arch, pretrained in configs:
            bs = min(a.bs, max(k // 2, 1))   # at least two batches an epoch: the training loader drops the last, incomplete one
            run, ep = a.out/'runs'/f'{name}_{k}', epochs_for(k, a.epochs, bs, a.min_iters)
            if (run/'metrics.json').exists(): m = json.loads((run/'metrics.json').read_text())   # finished earlier
            else:
                start, resume = time.time(), (run/'run.json').exists()   # an interrupted run continues with its own settings
                settings = {} if resume else dict(data=folder, arch=arch, pretrained=pretrained, epochs=ep, size=a.size, bs=bs,
                                                  seed=a.seed, valid_slides=valid_slides)
                _, m = train_resumable(run, resume=resume, num_workers=a.workers, **settings)
                print(f'{name} on {k} cells: {time.time() - start:.0f} s', flush=True)
            rows.append(row(name, m))
            print(f"{name:<32}{k:>6} cells  accuracy {m['accuracy']:.4f} {rows[-1]['accuracy_lo']}-{rows[-1]['accuracy_hi']}", flush=True)
            with open(out_csv, 'w', newline='') as f:   # rewritten after every run: a stopped benchmark keeps what it finished
                w = csv.DictWriter(f, FIELDS); w.writeheader(); w.writerows(rows)
    print(f'wrote {out_csv} and {plot_curve(out_csv)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
