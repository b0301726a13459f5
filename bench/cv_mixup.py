"""`malaria-nb cv` with fastai's `MixUp` added to every fold's training (issue 16's "mixup against label noise").

MixUp trains on blends of two cells, `lam * a + (1 - lam) * b` with `lam ~ Beta(alpha, alpha)`, and on the same blend
of their labels. The course's recipe has no mixup option (it did not win: see BENCHMARKS.md), so this script wraps the
recipe's `malaria_learner` for this process, adding `MixUp(alpha)` to each learner, then runs `malaria-nb cv` with the
remaining arguments: folds, seed, recipe and resume are exactly the CLI's. A fold's `run.json` does not record the
mixup; name the output folder for it. Score the runs with `bench/cv_ablation.py` as any other.

    PYTHONPATH=$PWD python bench/cv_mixup.py --alpha 0.2 -- --data DIR --folds 5 --epochs 12 --out runs/cv_mixup
"""
import sys

from fastai.callback.mixup import MixUp

import malaria_nb.recipe as recipe


def add_mixup(alpha:float):
    "Make every learner the recipe builds (in this process) train with `MixUp(alpha)`"
    build = recipe.malaria_learner
    def with_mixup(*args, **kwargs): return build(*args, **kwargs).add_cb(MixUp(alpha))
    recipe.malaria_learner = with_mixup


if __name__ == '__main__':
    argv = sys.argv[1:]
    if '--' not in argv or argv[:1] != ['--alpha'] or argv.index('--') != 2: sys.exit(__doc__.splitlines()[-1].strip())
    try: alpha = float(argv[1])
    except ValueError: alpha = 0.
    if not alpha > 0: sys.exit(f'cv_mixup: --alpha {argv[1]!r} must be a number above 0 (e.g. 0.2).')
    add_mixup(alpha)
    from malaria_nb.cli import main
    sys.exit(main(['cv', *argv[3:]]))
