"""What turns and stains (`TurnAndStain`, notebook 02a) add to a training step, measured side by side.

Batches of real cells from the cell cache go through the training transforms of the course's DataLoaders
(`malaria_dls`), built with and without `rotate`/`stain`, and a ResNet18 training step; the two alternate in rounds,
and the ratio of their median times is printed.

    PYTHONPATH=$PWD python bench/augment_cost.py --data ../shared/data/nih-malaria-dev/cell_images [--rounds 5]
"""
import argparse, statistics, sys, time

import torch
from fastai.vision.all import TensorImage
from torchvision.models import resnet18

from malaria_nb.cache import cell_cache, malaria_dls


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', required=True)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--steps', type=int, default=10, help='training steps per measurement')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--rotate', type=float, default=180.)
    p.add_argument('--stain', type=float, default=0.1)
    a = p.parse_args(argv)
    cache = cell_cache(a.data, a.size)
    def train_tfms(**aug):
        "The batch transforms of the course's training loader, set for training as the loader sets them each epoch"
        pipe = malaria_dls(a.data, a.size, a.bs, device='cpu', **aug).train.after_batch
        pipe.split_idx = 0
        return pipe
    tfms = {'flips only': train_tfms(), f'flips + TurnAndStain({a.rotate:g}, {a.stain:g})': train_tfms(rotate=a.rotate, stain=a.stain)}
    print({k: [type(t).__name__ for t in pipe.fs] for k, pipe in tfms.items()})
    model = resnet18(num_classes=2)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    idx = torch.randperm(len(cache))[:a.bs * a.steps].view(a.steps, a.bs)
    batches = [TensorImage(torch.from_numpy(cache.images[i.sort().values.numpy()])) for i in idx]
    ys = torch.randint(0, 2, (a.bs,))
    def measure(pipe):
        start = time.perf_counter()
        for xb in batches:
            loss = torch.nn.functional.cross_entropy(model(pipe(xb).as_subclass(torch.Tensor)), ys)
            opt.zero_grad(); loss.backward(); opt.step()
        return (time.perf_counter() - start) / a.steps
    for pipe in tfms.values(): measure(pipe)   # warm-up
    times = {k: [] for k in tfms}
    for _ in range(a.rounds):
        for k, pipe in tfms.items(): times[k].append(measure(pipe))
    (base, t0), (aug, t1) = [(k, statistics.median(v)) for k, v in times.items()]
    print(f'{base}: {a.bs / t0:.0f} images/s; {aug}: {a.bs / t1:.0f} images/s (medians of {a.rounds} rounds of {a.steps} steps, '
          f'{a.size} px, batch {a.bs}, {torch.get_num_threads()} threads)')
    print(f'ratio (with / without): {t1 / t0:.3f} of the time a step takes')
    return 0


if __name__ == '__main__': sys.exit(main())
