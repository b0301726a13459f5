"""Cross-validate the course recipe with extra training augmentation and label smoothing (ablations for issue 16).

Same folds, seed and recipe as `malaria-nb cv` (it calls `cross_validate` with `train_resumable`); on the training
batches, after the dihedral flips, it adds free rotations (`--rotate` degrees, uniform in +/-), a stain jitter
(`--stain`: saturation and brightness of each cell scaled by up to that share, its hue turned by up to that share of 90 degrees), and trains with label smoothing
(`--smooth` epsilon). Score the folds with `bench/cv_ablation.py OUT`.

    PYTHONPATH=$PWD python bench/cv_augment.py --data DIR --out runs/cv_rot --rotate 180 --stain 0.1 [--smooth 0.1]
"""
import argparse, json, math, sys
from pathlib import Path

import torch
import torch.nn.functional as F
from fastai.vision.all import LabelSmoothingCrossEntropyFlat, TensorImage

import malaria_nb.cache as cache
import malaria_nb.recipe as recipe
from malaria_nb.cli import train_runtime
from malaria_nb.patients import cross_validate


def rotate_and_stain(x: torch.Tensor, rotate: float, stain: float) -> torch.Tensor:
    "uint8 batch (n,3,h,w) -> floats in [0,1], each image turned by a uniform angle in +/-`rotate` degrees and colour-jittered"
    x = x.float().div_(255)
    n = x.shape[0]
    if rotate:
        a = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(rotate)
        cos, sin = a.cos(), a.sin()
        fit = cos.abs() + sin.abs()   # zoom out so the whole turned square stays in view: no part of a cell is cut off
        cos, sin = cos * fit, sin * fit
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1), torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)
        grid = F.affine_grid(theta, x.shape, align_corners=False)
        x = F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)   # the background is black
    if stain:
        u = lambda: (torch.rand(n, 1, 1, 1, device=x.device) * 2 - 1) * stain
        gray = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = gray + (x - gray) * (1 + u())                                   # saturation
        h = u()[:, 0, 0, 0] * math.pi / 2                                   # hue: a turn about the grey axis
        k = torch.ones(3, device=x.device) / math.sqrt(3)
        K = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], device=x.device)
        R = torch.eye(3, device=x.device) + h.sin()[:, None, None] * K + (1 - h.cos())[:, None, None] * (K @ K)
        x = torch.einsum('nij,njhw->nihw', R, x)
        x = x * (1 + u())                                                   # brightness
        x = x.clamp_(0, 1)
    return x


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--folds', type=int, default=5)
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--size', type=int, default=None)
    p.add_argument('--arch', default=None)
    p.add_argument('--rotate', type=float, default=0.)
    p.add_argument('--stain', type=float, default=0.)
    p.add_argument('--smooth', type=float, default=0.)
    a = p.parse_args(argv)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out)/'augment.json').write_text(json.dumps(dict(rotate=a.rotate, stain=a.stain, smooth=a.smooth)))

    class Augmented(cache.DihedralFlips):
        def encodes(self, x: TensorImage):
            return TensorImage(rotate_and_stain(super().encodes(x).as_subclass(torch.Tensor), a.rotate, a.stain))
    cache.DihedralFlips = Augmented
    if a.smooth:
        learner = recipe.malaria_learner
        recipe.malaria_learner = lambda *args, **kw: learner(*args, loss_func=LabelSmoothingCrossEntropyFlat(eps=a.smooth), **kw)
    table = cross_validate(a.data, a.out, k=a.folds, runtime=train_runtime(a.data, 'cached'),
                           epochs=a.epochs, size=a.size, arch=a.arch)
    print(table.round(4).to_string())
    return 0


if __name__ == '__main__': sys.exit(main())
