"""`malaria-nb cv` with a small timm architecture trained from scratch (issue 16's "a small modern net from timm").

The course's `ARCHS` holds torchvision ResNets only; this script adds the timm names given with `--timm` to it for
this process (fastai's `vision_learner` builds a timm model from its name), then runs `malaria-nb cv` with the
remaining arguments, so the folds, seed, recipe and resume are exactly those of the CLI. Score the runs with
`bench/cv_ablation.py --timm NAME`, which registers the same names before loading the fold models.

    PYTHONPATH=$PWD python bench/cv_timm.py --timm regnetx_004 -- --data DIR --folds 5 --epochs 12 --arch regnetx_004 --out runs/cv_regnetx
"""
import sys

import timm

from malaria_nb.train import ARCHS


def register(names):
    "Add the timm architectures `names` to the course's `ARCHS` (for this process only)"
    for n in names:
        if n not in timm.list_models(n): sys.exit(f'cv_timm: {n!r} is not a timm model name (see timm.list_models()).')
        ARCHS.setdefault(n, n)   # vision_learner(dls, 'name') builds timm's model


if __name__ == '__main__':
    argv = sys.argv[1:]
    if '--' not in argv or argv[0] != '--timm': sys.exit(__doc__.splitlines()[-1].strip())
    i = argv.index('--')
    register(argv[1:i])
    from malaria_nb.cli import main
    sys.exit(main(['cv', *argv[i + 1:]]))
