"""Cross-validated figures of finished `malaria-nb cv` runs, with and without test-time augmentation, and the
threshold that reaches a target sensitivity chosen honestly (on the other folds' out-of-fold predictions).

For each run folder (`malaria-nb cv --out DIR`), every fold's best-epoch model is loaded (`load_run`) and scored on
its own validation slides (which chose its best epoch, too: see the note printed at the end), at the default
threshold (argmax), and with the 8 dihedral symmetries averaged (test-time augmentation, TTA).
For the chosen-sensitivity threshold, fold i's threshold is the largest one that reaches the target on the pooled
out-of-fold predictions of the *other* folds, then applied to fold i.

    PYTHONPATH=$PWD python bench/cv_ablation.py RUN_DIR [RUN_DIR ...] [--target 0.97] [--json out.json] [--timm NAME ...]
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


def score_run(run: Path, target: float):
    folds = sorted(p for p in run.glob('fold_*') if (p/'metrics.json').is_file())
    preds = {}
    for f in folds:
        learn = load_run(f)
        for tta in (False, True): preds[f.name, tta] = fold_preds(learn, tta)
    rows = []
    for tta in (False, True):
        for f in folds:
            probs, targs = preds[f.name, tta]
            others = [preds[g.name, tta] for g in folds if g != f]
            t = threshold_for_sensitivity(np.concatenate([o[0][:, 0] for o in others]), np.concatenate([o[1] for o in others]), target)
            sens_t, spec_t = at_threshold(probs[:, 0], targs, t)
            m = metrics_from_probs(probs, targs)
            rows.append(dict(run=run.name, tta=tta, fold=f.name, cells=m['n'], accuracy=m['accuracy'], sensitivity=m['sensitivity'],
                             specificity=m['specificity'], roc_auc=m['roc_auc'], threshold=t,
                             sensitivity_at_t=sens_t, specificity_at_t=spec_t,
                             train_s=json.loads((f/'metrics.json').read_text()).get('seconds')))
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('runs', nargs='+', type=Path)
    p.add_argument('--target', type=float, default=0.97)
    p.add_argument('--json', default=None)
    p.add_argument('--timm', nargs='*', default=[], help='timm architectures the runs used (see bench/cv_timm.py)')
    a = p.parse_args(argv)
    if a.timm:
        from cv_timm import register
        register(a.timm)
    df = pd.concat([score_run(r, a.target) for r in a.runs])
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
