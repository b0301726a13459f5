"""Cross-validated figures of finished `malaria-nb cv` runs, with and without test-time augmentation, and the
threshold that reaches a target sensitivity chosen honestly (on the other folds' out-of-fold predictions).

For each run folder (`malaria-nb cv --out DIR`), every fold's best-epoch model is loaded (`load_run`) and scored on
its own validation slides (which chose its best epoch, too: see the note printed at the end), at the default
threshold (argmax), and with the 8 dihedral symmetries averaged (test-time augmentation, TTA).
For the chosen-sensitivity threshold, fold i's threshold is the largest one that reaches the target on the pooled
out-of-fold predictions of the *other* folds, then applied to fold i.

With `--ensemble`, the runs (`malaria-nb cv` on the same data, folds and seed) are scored as one ensemble instead:
each fold's probabilities are the mean of the runs' models for that fold, and its training time the sum of theirs.

    PYTHONPATH=$PWD python bench/cv_ablation.py RUN_DIR [RUN_DIR ...] [--ensemble] [--target 0.97] [--json out.json] [--timm NAME ...]
"""
import argparse, json, sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastai.vision.all import TensorImage

from malaria_nb.interpret import threshold_for_sensitivity

from malaria_nb.report import load_run
from malaria_nb.train import metrics_from_probs


def fold_preds(learn, tta: bool):
    "Class probabilities and targets of `learn` on its validation set, optionally averaged over the 8 symmetries"
    model = learn.model.eval()
    probs, targs = [], []
    with torch.inference_mode():
        for xb, yb in learn.dls.valid:
            xb = xb.as_subclass(torch.Tensor)
            ks = range(8) if tta else [0]
            p = torch.stack([model(TensorImage(xb).dihedral(k).as_subclass(torch.Tensor)).float().softmax(1) for k in ks]).mean(0)
            probs.append(p.cpu()); targs.append(yb.cpu())
    return torch.cat(probs).numpy(), torch.cat(targs).numpy()


def at_threshold(p_par, targs, t):
    "Sensitivity and specificity when a cell is called Parasitized at P(Parasitized) >= t"
    pos = targs == 0
    call = p_par >= t
    return float(call[pos].mean()), float((~call[~pos]).mean())


def folds_of(run: Path) -> list:
    return sorted(p for p in run.glob('fold_*') if (p/'metrics.json').is_file())


def run_preds(run: Path) -> dict:
    "{(fold name, tta): (probs, targs)} of every finished fold of `run`"
    preds = {}
    for f in folds_of(run):
        learn = load_run(f)
        for tta in (False, True): preds[f.name, tta] = fold_preds(learn, tta)
    return preds


def train_seconds(run: Path) -> dict:
    return {f.name: json.loads((f/'metrics.json').read_text()).get('seconds') for f in folds_of(run)}


def ensemble(runs: list) -> tuple:
    "Mean probabilities and summed training time of `runs`, fold by fold; the runs must share folds and cells"
    plans = [json.loads((r/'cv.json').read_text()) for r in runs]
    for r, plan in zip(runs[1:], plans[1:]):
        if (plan['data'], plan['valid_slides']) != (plans[0]['data'], plans[0]['valid_slides']):
            sys.exit(f'cv_ablation: {r} was not cross-validated on the same data and folds as {runs[0]}: it cannot join the ensemble.')
    each = [run_preds(r) for r in runs]
    if any(set(p) != set(each[0]) for p in each): sys.exit('cv_ablation: the runs have not finished the same folds.')
    preds = {}
    for k in each[0]:
        if any(not np.array_equal(p[k][1], each[0][k][1]) for p in each): sys.exit(f'cv_ablation: the runs\' validation labels differ on {k[0]}.')
        preds[k] = np.mean([p[k][0] for p in each], axis=0), each[0][k][1]
    secs = [train_seconds(r) for r in runs]
    return preds, {f: sum(s[f] for s in secs) for f in secs[0]}


def score(name: str, preds: dict, train_s: dict, target: float):
    folds = sorted({f for f, _ in preds})
    rows = []
    for tta in (False, True):
        for f in folds:
            probs, targs = preds[f, tta]
            others = [preds[g, tta] for g in folds if g != f]
            t = threshold_for_sensitivity(np.concatenate([o[0][:, 0] for o in others]), np.concatenate([o[1] for o in others]), target)
            sens_t, spec_t = at_threshold(probs[:, 0], targs, t)
            m = metrics_from_probs(probs, targs)
            rows.append(dict(run=name, tta=tta, fold=f, cells=m['n'], accuracy=m['accuracy'], sensitivity=m['sensitivity'],
                             specificity=m['specificity'], roc_auc=m['roc_auc'], threshold=t,
                             sensitivity_at_t=sens_t, specificity_at_t=spec_t, train_s=train_s[f]))
    return pd.DataFrame(rows)


def score_run(run: Path, target: float):
    return score(run.name, run_preds(run), train_seconds(run), target)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('runs', nargs='+', type=Path)
    p.add_argument('--target', type=float, default=0.97)
    p.add_argument('--json', default=None)
    p.add_argument('--timm', nargs='*', default=[], help='timm architectures the runs used (see bench/cv_timm.py)')
    p.add_argument('--ensemble', action='store_true', help='score the runs as one ensemble (mean probabilities per fold)')
    a = p.parse_args(argv)
    if a.timm:
        from cv_timm import register
        register(a.timm)
    if a.ensemble: df = score('+'.join(r.name for r in a.runs), *ensemble(a.runs), a.target)
    else: df = pd.concat([score_run(r, a.target) for r in a.runs])
    cols = ['accuracy', 'sensitivity', 'specificity', 'roc_auc', 'sensitivity_at_t', 'specificity_at_t', 'train_s']
    summary = df.groupby(['run', 'tta'])[cols].agg(['mean', 'std'])
    pd.set_option('display.width', 200)
    print(df.round(4).to_string(index=False))
    print()
    print(summary.round(4).to_string())
    print(f'\nthreshold per fold: the largest reaching sensitivity {a.target} on the other folds\' out-of-fold predictions. '
          'The best epoch of each fold was chosen on its own validation slides (by accuracy), so the default-threshold '
          'figures lean slightly optimistic.')
    if a.json: Path(a.json).write_text(df.to_json(orient='records', indent=1))
    return 0


if __name__ == '__main__': sys.exit(main())
