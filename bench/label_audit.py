"""The label audit of notebook 12 on real data, from a finished patient cross-validation (`malaria-nb cv --out DIR`).

1. Out-of-fold P(Parasitized) of every cell, each from the fold whose model never saw its slide (`oof_predictions`).
2. Confident learning's suspects (`find_suspects`, cleanlab's default rule), counted per given label.
3. A grid of the top suspects with the Grad-CAM of the suggested class from each cell's own fold (`plot_suspects`),
   saved as a PNG under 150 kB for the notebook's prose (--png).
4. With --retrain: the recipe trained again on one fold's patient split (its validation slides, the CV's settings and
   seed) without the suspects among its TRAINING cells (a corrections CSV of 'exclude' rows), compared with that fold's
   own run (the same recipe, seed and split, without exclusions) on the same validation cells, with their given labels,
   and again without the validation suspects (a view that favours the base run, whose predictions chose them);
   paired slide-bootstrap intervals of each difference.

Tables go to --out (default CV_DIR/audit): oof.csv, suspects.csv, counts.csv, summary.json (and the retrain's).

    PYTHONPATH=$PWD python bench/label_audit.py /work/runs/cv_base --png nbs/images/label_audit_suspects.png [--retrain]
"""
import argparse, json, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

from malaria_nb.audit import fold_learners, oof_predictions, find_suspects, suspect_counts, plot_suspects, read_cv, save_corrections
from malaria_nb.data import CLASSES, cell_files
from malaria_nb.files import sha256_file, atomic_path, save_json
from malaria_nb.interpret import slide_bootstrap, valid_preds
from malaria_nb.patients import cell_metrics
from malaria_nb.resume import checkpoints
from malaria_nb.recipe import train_resumable

PAR = CLASSES.index('Parasitized')
METRICS = ('accuracy', 'sensitivity', 'specificity', 'roc_auc')


def save_png(fig, path: Path, max_kb: int = 150) -> tuple:
    "Save `fig` at the highest of a few resolutions that stays under `max_kb`; (dpi, kB)"
    for dpi in (80, 72, 64, 56, 48):
        with atomic_path(path) as tmp: fig.savefig(tmp, format='png', dpi=dpi, bbox_inches='tight')
        kb = path.stat().st_size / 1024
        if kb < max_kb: return dpi, kb
    raise ValueError(f'{path}: {kb:.0f} kB even at {dpi} dpi; show fewer suspects (--top)')


def paired(probs, targs, slides) -> dict:
    "Cell metrics of the base model (column 0) and the cleaned one (column 1), and their differences"
    res = {}
    for j, name in enumerate(('base', 'clean')):
        res.update({f'{name}_{k}': v for k, v in cell_metrics(probs[:, j], targs).items()})
    res.update({f'diff_{k}': res[f'clean_{k}'] - res[f'base_{k}'] for k in METRICS})
    return res


def retrain(a, plan: dict, oof: pd.DataFrame, suspects: pd.DataFrame, out: Path) -> dict:
    "Train fold `a.fold`'s split without its training-side suspects; compare with the fold's run on its validation cells"
    vs = plan['valid_slides'][a.fold]
    train_side = suspects[~suspects.slide.isin(vs)]
    drop = train_side if a.exclude is None else train_side.head(a.exclude)
    csv = save_corrections(pd.DataFrame(dict(file=[Path(f).name for f in drop.file], sha256=[sha256_file(f) for f in drop.file],
                                             given=drop.given.tolist(), decision='exclude', reason='label audit suspect')),
                           out/f'exclude_fold{a.fold}.csv')
    print(f'\nretraining fold {a.fold} ({len(vs)} validation slides) without {len(drop)} of its {len(train_side)} training-side '
          f'suspects ({csv}); settings {plan["settings"]}')
    run = out/f'retrain_fold{a.fold}'
    start = time.time()
    learn, m = train_resumable(run, resume=bool(checkpoints(run/'checkpoints')), data=a.data or plan['data'], valid_slides=vs,
                               corrections=str(csv), num_workers=a.workers, **plan['settings'])
    with learn.no_bar(): p = valid_preds(learn)
    clean = pd.Series(p.probs[:, PAR], index=[str(f) for f in p.items])
    base = oof[oof.fold == a.fold].set_index('file')
    if set(clean.index) != set(base.index): raise ValueError('the retrained run validates on other cells than the fold: check --data')
    df = base.assign(clean=clean.reindex(base.index)).rename(columns=dict(p_parasitized='base'))
    targs = np.array([CLASSES.index(g) for g in df.given])
    flagged = df.index.isin(suspects.file)
    rows = {}
    for name, keep in (('all validation cells', np.ones(len(df), bool)), ('without validation suspects', ~flagged)):
        bs = slide_bootstrap(paired, df[['base', 'clean']].to_numpy()[keep], targs[keep], df.slide.to_numpy()[keep], n=a.bootstrap)
        rows[name] = bs
        print(f'\n{name}: {int(keep.sum())} cells, {df.slide[keep].nunique()} slides; 95% slide-bootstrap intervals ({a.bootstrap} replicates)')
        print(bs.loc[[f'{w}_{k}' for k in METRICS for w in ('base', 'clean', 'diff')], ['estimate', 'lo', 'hi']].round(4).to_string())
    print('\nnote: the validation suspects were chosen from the base run\'s own predictions, so the view without them '
          'favours the base run; read it beside the first. The training-side suspects were found by the other folds\' '
          'models, which trained on this fold\'s validation slides (a faint leak; a nested audit inside the training '
          'slides would remove it). The base run is the cross-validation\'s own fold run: the same recipe, settings, '
          'seed and split, without exclusions.')
    res = dict(fold=a.fold, excluded=len(drop), training_side_suspects=len(train_side), retrain_seconds=round(time.time() - start),
               **{name: bs.to_dict(orient='index') for name, bs in rows.items()})
    save_json(res, out/f'retrain_fold{a.fold}.json')
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('cv_dir', type=Path, help='the --out folder of a finished `malaria-nb cv`')
    p.add_argument('--data', default=None, help='the image folder (default: the one the cross-validation used)')
    p.add_argument('--out', type=Path, default=None, help='where the tables go (default: CV_DIR/audit)')
    p.add_argument('--png', type=Path, default=None, help='save the grid of top suspects here (under 150 kB)')
    p.add_argument('--top', type=int, default=12, help='suspects in the grid (default 12)')
    p.add_argument('--layer', type=int, default=-2, help="Grad-CAM at this child of the body (default -2: a ResNet's third stage)")
    p.add_argument('--retrain', action='store_true', help='train one fold again without its training-side suspects, and compare')
    p.add_argument('--fold', type=int, default=0, help='the fold whose split --retrain uses (default 0)')
    p.add_argument('--exclude', type=int, default=None, help='exclude only the top N training-side suspects (default: all)')
    p.add_argument('--bootstrap', type=int, default=1000, help='slide-bootstrap replicates (default 1000)')
    p.add_argument('--workers', type=int, default=0, help='processes that decode images for --retrain (default 0)')
    a = p.parse_args(argv)
    plan, out, start = read_cv(a.cv_dir), a.out or a.cv_dir/'audit', time.time()
    data = Path(a.data or plan['data'])
    learners = fold_learners(a.cv_dir, a.data)
    oof = oof_predictions(a.cv_dir, a.data, learners)
    n_files = len(cell_files(data))
    print(f'{len(oof)} cells scored out of fold by {plan["k"]} folds ({n_files} images in {data}, {len(plan.get("test_slides", []))} '
          f'test slides held out), in {time.time() - start:.0f} s')
    probs = np.stack([oof.p_parasitized, 1 - oof.p_parasitized], 1) if PAR == 0 else np.stack([1 - oof.p_parasitized, oof.p_parasitized], 1)
    targs = np.array([CLASSES.index(g) for g in oof.given])
    print('out-of-fold cell metrics at 0.5:', {k: round(v, 4) for k, v in cell_metrics(probs[:, PAR], targs).items()})
    suspects = find_suspects(oof)
    counts = suspect_counts(oof, suspects)
    print('\nsuspects per given label (cleanlab find_label_issues, prune_by_noise_rate):')
    print(counts.round(4).to_string())
    print('\nsuspected direction:', suspects.groupby(['given', 'suggested']).size().to_dict())
    print(f'\ntop {a.top} suspects:')
    print(suspects.head(a.top).assign(file=lambda d: d.file.map(lambda f: Path(f).name))[
        ['file', 'slide', 'given', 'p_parasitized', 'fold']].round(4).to_string(index=False))
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (('oof', oof), ('suspects', suspects)):
        with atomic_path(out/f'{name}.csv') as tmp: df.to_csv(tmp, index=False)
    with atomic_path(out/'counts.csv') as tmp: counts.to_csv(tmp)
    summary = dict(cv_dir=str(a.cv_dir), cells=len(oof), images=n_files, suspects=len(suspects),
                   counts=counts.to_dict(orient='index'), seconds=round(time.time() - start))
    if a.png:
        dpi, kb = save_png(plot_suspects(suspects, learners, k=a.top, layer=a.layer), a.png)
        print(f'\nwrote {a.png} ({kb:.0f} kB at {dpi} dpi)')
        summary['png'] = dict(path=str(a.png), dpi=dpi, kB=round(kb))
    save_json(summary, out/'summary.json')
    print(f'wrote {out}/oof.csv, suspects.csv, counts.csv and summary.json')
    if a.retrain: retrain(a, plan, oof, suspects, out)
    return 0


if __name__ == '__main__':
    try: sys.exit(main())
    except (ValueError, OSError) as e:          # a bad folder or an unfinished cross-validation: one line, exit 2
        print(f'label_audit.py: error: {e}', file=sys.stderr); sys.exit(2)
