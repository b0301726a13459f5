"""Images per second of `malaria-nb predict` against the model alone, side by side in one run.

On the same exported model (from `malaria-nb train`), batch size and images:
(a) bare: the model's forward pass (inference_mode) on random tensors of the shape `predict` feeds it, already in
    memory: the most any predict could reach on this machine;
(b) old: `predict` as it was before the parallel decoding: in the main process, one image after the other decoded
    with `cell_tensor` (`load_cell`, bilinear squish, normalise), each batch stacked and then run through the model;
(c) new: `malaria_nb.export.predict`: `DataLoader` worker processes decode (same `load_cell` + bilinear squish)
    while the model runs; whole batches are normalised at once.
(b) and (c) are timed as whole calls (loading the model included) and give the same probabilities (checked). The
load of a shared machine changes from minute to minute, so the warm runs go over the images in chunks, each method
in turn on each chunk (in rotated order), and each rate is all the images over the summed seconds. With
--drop-caches (needs root) the page cache is dropped once, before a first, cold run of (c) over all the images.

Usage (from the repository root):
    python bench/predict_speed.py --model DIR [--data DIR] [--bs 64] [--workers 2 ...] [--chunks 5] [--drop-caches] [--n N]
"""
import argparse, os, platform, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's malaria_nb, not another installed copy

import numpy as np, PIL, torch
from malaria_nb.export import load_cell_model, image_items, cell_tensor, predict

def bare_seconds(model, n:int, shape, bs:int) -> tuple:
    "(None, seconds) of `model` alone on `n` images in batches of `bs`: random tensors of `shape` already in memory"
    xs = [torch.randn(min(bs, n - i), *shape) for i in range(0, n, bs)]
    with torch.inference_mode():
        model(xs[0])   # warm-up
        start = time.perf_counter()
        for x in xs: model(x).float().softmax(1)
    return None, time.perf_counter() - start

def old_predict(model_dir, items, bs:int) -> np.ndarray:
    "P(Parasitized) as `predict` computed it before: sequential decoding in the main process"
    model, meta = load_cell_model(model_dir)
    files, out = image_items(items), []
    with torch.inference_mode():
        for i in range(0, len(files), bs):
            x = torch.stack([cell_tensor(f, meta) for f in files[i:i+bs]])
            out.append(model(x).float().softmax(1))
    return torch.cat(out)[:, 0].numpy()

def timed(f, *args, **kwargs):
    start = time.perf_counter()
    res = f(*args, **kwargs)
    return res, time.perf_counter() - start

def machine() -> str:
    nproc = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()
    return (f'{time.strftime("%Y-%m-%d %H:%M %Z")}; {nproc} CPUs ({platform.processor() or platform.machine()}), '
            f'torch {torch.__version__} with {torch.get_num_threads()} threads, Pillow {PIL.__version__}, '
            f'GPU {torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}; load average {" ".join(f"{o:.1f}" for o in os.getloadavg())}')

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True, help='a model folder exported by `malaria-nb train` (its model/ folder)')
    p.add_argument('--data', default=str(ROOT/'..'/'shared'/'data'/'nih-malaria-dev'/'cell_images'))
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--workers', type=int, nargs='+', default=[None], help="worker processes of the new predict (default: predict's own choice)")
    p.add_argument('--n', type=int, default=0, help='use only the first N images (default: all)')
    p.add_argument('--chunks', type=int, default=5, help='warm runs go over the images in this many chunks, the methods in turn (default 5)')
    p.add_argument('--drop-caches', action='store_true', help='drop the page cache once, before a cold run of the new predict (root only)')
    a = p.parse_args()
    files = image_items(a.data)
    if a.n: files = files[:a.n]
    model, meta = load_cell_model(a.model)
    h, w = meta['image_size']
    print(f'{machine()}\n{len(files)} images of {Path(a.data).resolve()}, model {meta["arch"]} at {h}x{w} px, batch {a.bs}, device cpu')
    rows = []
    if a.drop_caches:
        subprocess.run(['sync'], check=True)
        Path('/proc/sys/vm/drop_caches').write_text('3\n')
        _, s = timed(predict, a.model, files, bs=a.bs, device='cpu', n_workers=a.workers[0])
        rows.append((f'new predict, cold page cache (workers {a.workers[0] or "default"})', len(files) / s))
    # warm: the load of a shared machine changes from minute to minute, so every method runs on each chunk in turn
    methods = {'bare forward (random tensors in memory)': lambda fs: bare_seconds(model, len(fs), (3, h, w), a.bs),
               'old predict (sequential decode), warm': lambda fs: timed(old_predict, a.model, fs, a.bs)}
    for nw in a.workers:
        methods[f'new predict, warm (workers {nw if nw is not None else "default"})'] = (
            lambda fs, nw=nw: timed(predict, a.model, fs, bs=a.bs, device='cpu', n_workers=nw))
    secs, probs = {m: 0. for m in methods}, {m: [] for m in methods}
    for r, chunk in enumerate(np.array_split(np.array(files, dtype=object), a.chunks)):
        names = list(methods)[r % len(methods):] + list(methods)[:r % len(methods)]
        for m in names:
            res, s = methods[m](list(chunk))
            secs[m] += s
            if res is not None: probs[m].append(res.p_parasitized.values if hasattr(res, 'p_parasitized') else res)
    bare = len(files) / secs[next(iter(methods))]
    old = np.concatenate(probs['old predict (sequential decode), warm'])
    for m in methods:
        diff = f' (max |p - old| {np.abs(np.concatenate(probs[m]) - old).max():.0e})' if probs[m] and m.startswith('new') else ''
        rows.append((m + diff, len(files) / secs[m]))
    print(f'{"":<74}{"img/s":>8}{"/ bare":>8}')
    for name, r in rows: print(f'{name:<74}{r:>8.0f}{r / bare:>8.2f}')
    print(f'load average at the end: {" ".join(f"{o:.1f}" for o in os.getloadavg())}')

if __name__ == '__main__': main()
