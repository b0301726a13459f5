"""Training speed of the course's one recipe, side by side in one run: is the model the limit, or the data?

For each batch size, on the NIH development images (`../shared/data/nih-malaria-dev/cell_images`) at 64 px,
ResNet18 (`--arch`) from scratch, 2 epochs each, all three on the same device (a GPU where there is one) and in the same
precision (`--precision`; by default the one `malaria-nb train` uses: this GPU's best, fp32 on the CPU):

- (a) `train_resumable` as `malaria-nb train` runs it: the cached pipeline (decode once, flip and normalise whole batches);
- (b) the bare model step: the same learner's model, optimizer and loss on random tensors already on its device
  (`bare_step.py`: channels-last and autocast in fp16/bf16, with a loss scaler in fp16, as fastai's mixed precision);
- (c) the same recipe with `pipeline='plain'`: fastai's item pipeline (PNG decoding every epoch) with 2 workers.

Training images/s count the training phase only (a callback times `before_train` to `after_train`); the cache build
is timed once, apart, into an empty cache folder. Then the data rate alone at 128 px (one pass over the training
loader, no model) for both pipelines.

    PYTHONPATH=$PWD python bench/train_speed.py [--data DIR] [--epochs 2] [--bs 64 128] [--size 64] [--arch resnet18] [--precision auto]
"""
import argparse, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path

import torch
from fastai.vision.all import Callback

from malaria_nb.cache import cell_cache, malaria_dls
from malaria_nb.environment import precision_for
from malaria_nb.recipe import RUN_SETTINGS, run_learner, train_resumable
import bare_step   # bench/bare_step.py, beside this file

ROOT = Path(__file__).resolve().parents[1]


class TrainRate(Callback):
    "Images and seconds of the training phase of each epoch"
    order = 100
    def before_fit(self): self.n, self.secs = 0, 0.
    def before_train(self): self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training: self.n += len(self.yb[0])
    def after_train(self): self.secs += time.perf_counter() - self.t0
    @property
    def rate(self): return self.n / self.secs


def recipe_rate(data, out, bs, size, epochs, pipeline, workers, cache_dir, arch='resnet18', precision='fp32'):
    "Training images/s of `train_resumable` with `pipeline`"
    rate = TrainRate()
    start = time.perf_counter()
    _, res = train_resumable(out, overwrite=True, data=data, epochs=epochs, size=size, bs=bs, pipeline=pipeline, arch=arch,
                             num_workers=workers, precision=precision, cache_dir=cache_dir, cbs=rate)
    return dict(img_s=rate.rate, train_s=rate.secs, wall_s=time.perf_counter() - start, accuracy=res['accuracy'])


def bare_rate(data, out, bs, size, steps, cache_dir, arch='resnet18', precision='fp32'):
    "Training images/s of the recipe's model, optimizer and loss on random tensors already on the learner's device, in `precision`"
    s = {**RUN_SETTINGS, 'data': data, 'size': size, 'bs': bs, 'arch': arch}
    learn = run_learner(s, out, precision=precision, cache_dir=cache_dir)
    learn.create_opt()
    return bare_step.bare_rate(learn.model, learn.opt, learn.loss_func, bs, size, steps, learn.dls.device, precision)


def data_rate(dl):
    "Images/s one pass over `dl` delivers (first batch timed apart)"
    it = iter(dl); next(it)
    start, n = time.perf_counter(), 0
    for xb, _ in it: n += len(xb)
    return n / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=str(ROOT.parent/'shared/data/nih-malaria-dev/cell_images'))
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--bs', type=int, nargs='+', default=[64, 128])
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--data-size', type=int, default=128)
    p.add_argument('--arch', default='resnet18', choices=('resnet18', 'resnet34', 'resnet50'))
    p.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'fp16', 'bf16'),
                   help="of all three runs; auto: this GPU's best, as `malaria-nb train` trains (fp32 on the CPU)")
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    if not Path(a.data).is_dir(): p.exit(2, f'train_speed.py: --data {a.data} is not a folder: give the folder that holds Parasitized/ and Uninfected/\n')
    gpu = torch.cuda.is_available()
    precision = precision_for(torch.cuda.get_device_capability(0) if gpu else None) if a.precision == 'auto' else a.precision
    if precision != 'fp32' and not gpu: p.exit(2, f'train_speed.py: --precision {precision} needs a CUDA GPU; use fp32 (or auto) on the CPU\n')
    tmp = Path(tempfile.mkdtemp())
    cache_dir = tmp/'cache'
    print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; '
          f"{torch.cuda.get_device_name(0) if gpu else 'no GPU'}, {a.arch}, {precision}")
    try:
        start = time.perf_counter()
        cache = cell_cache(a.data, a.size, cache_dir=cache_dir, n_workers=a.workers)
        build = time.perf_counter() - start
        print(f'cache build, once: {len(cache)} cells at {a.size} px in {build:.1f} s ({len(cache) / build:,.0f} img/s)')
        res = dict(cache_build_s=build, cells=len(cache), arch=a.arch, precision=precision, device=torch.cuda.get_device_name(0) if gpu else 'CPU', rows=[])
        for bs in a.bs:
            steps = max(20, 2 * len(cache) // bs // 10)
            ra = recipe_rate(a.data, tmp/f'a{bs}', bs, a.size, a.epochs, 'cached', a.workers, cache_dir, a.arch, precision)
            rb = bare_rate(a.data, tmp/f'b{bs}', bs, a.size, steps, cache_dir, a.arch, precision)
            rc = recipe_rate(a.data, tmp/f'c{bs}', bs, a.size, a.epochs, 'plain', a.workers, cache_dir, a.arch, precision)
            row = dict(bs=bs, a_cached=ra, b_bare=rb, c_plain=rc, a_over_b=ra['img_s'] / rb['img_s'], a_over_c=ra['img_s'] / rc['img_s'])
            res['rows'].append(row)
            print(f"bs {bs}: (a) cached {ra['img_s']:.0f} img/s ({ra['train_s']:.1f} s training, {ra['wall_s']:.1f} s in all), "
                  f"(b) bare step {rb['img_s']:.0f} img/s, (c) plain {rc['img_s']:.0f} img/s ({rc['train_s']:.1f} s training, "
                  f"{rc['wall_s']:.1f} s in all); a/b = {row['a_over_b']:.2f}, a/c = {row['a_over_c']:.2f}; "
                  f"accuracy (a) {ra['accuracy']:.3f}, (c) {rc['accuracy']:.3f}")
        ds = a.data_size
        cell_cache(a.data, ds, cache_dir=cache_dir, n_workers=a.workers)
        plain = malaria_dls(a.data, ds, 64, pipeline='plain', num_workers=a.workers)
        cached = malaria_dls(a.data, ds, 64, cache_dir=cache_dir)
        rp, rcach = data_rate(plain.train), data_rate(cached.train)
        res.update(data_px=ds, data_plain_img_s=rp, data_cached_img_s=rcach)
        print(f'data alone at {ds} px, batch 64: plain {rp:,.0f} img/s ({a.workers} workers), cached {rcach:,.0f} img/s; '
              f'cached/plain = {rcach / rp:.1f}x')
        if a.json: Path(a.json).write_text(json.dumps(res, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__': sys.exit(main())
