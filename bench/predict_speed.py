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
in turn on each chunk (in rotated order), and each rate is all the images over the summed seconds. The CPU time
of each method (the worker processes included) is printed too: it depends less on what else the machine runs. With
--drop-caches (needs root) the page cache is dropped once, before a first, cold run of (c) over all the images.

Usage (from the repository root):
    python bench/predict_speed.py --model DIR [--data DIR] [--bs 64] [--workers 2 ...] [--chunks 3] [--torch-threads T]
                                  [--drop-caches] [--n N]
"""
import argparse, os, platform, resource, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's malaria_nb, not another installed copy

import numpy as np, PIL, torch
from malaria_nb.export import load_cell_model, image_items, cell_tensor, predict

def bare_forward(model, n:int, shape, bs:int):
    "`model` alone on `n` images in batches of `bs`: random tensors of `shape` already in memory"
    xs = [torch.randn(min(bs, n - i), *shape) for i in range(0, n, bs)]
    with torch.inference_mode():
        model(xs[0])   # warm-up
        def run():
            for x in xs: model(x).float().softmax(1)
        return (None,) + timed(run)[1:]

def old_predict(model_dir, items, bs:int) -> np.ndarray:
    "P(Parasitized) as `predict` computed it before: sequential decoding in the main process"
    model, meta = load_cell_model(model_dir)
    files, out = image_items(items), []
    with torch.inference_mode():
        for i in range(0, len(files), bs):
            x = torch.stack([cell_tensor(f, meta) for f in files[i:i+bs]])
            out.append(model(x).float().softmax(1))
    return torch.cat(out)[:, 0].numpy()

def cpu_seconds() -> float:
    "CPU seconds used so far by this process and its finished children (DataLoader workers)"
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

def timed(f, *args, **kwargs) -> tuple:
    "`f(*args, **kwargs)`, its wall seconds and the CPU seconds it used"
    start, cpu = time.perf_counter(), cpu_seconds()
    res = f(*args, **kwargs)
    return res, time.perf_counter() - start, cpu_seconds() - cpu

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
    p.add_argument('--chunks', type=int, default=3, help='warm runs go over the images in this many chunks, the methods in turn (default 3)')
    p.add_argument('--torch-threads', type=int, default=0, help="torch's intra-op threads for every method (default: torch's own choice)")
    p.add_argument('--drop-caches', action='store_true', help='drop the page cache once, before a cold run of the new predict (root only)')
    a = p.parse_args()
    if a.torch_threads: torch.set_num_threads(a.torch_threads)
    files = image_items(a.data)
    if a.n: files = files[:a.n]
    model, meta = load_cell_model(a.model)
    h, w = meta['image_size']
    print(f'{machine()}\n{len(files)} images of {Path(a.data).resolve()}, model {meta["arch"]} at {h}x{w} px, batch {a.bs}, device cpu')
    rows = []
    if a.drop_caches:
        subprocess.run(['sync'], check=True)
        Path('/proc/sys/vm/drop_caches').write_text('3\n')
        _, s, c = timed(predict, a.model, files, bs=a.bs, device='cpu', n_workers=a.workers[0])
        rows.append((f'new predict, cold page cache (workers {a.workers[0] if a.workers[0] is not None else "default"})', len(files) / s, c))
    # warm: the load of a shared machine changes from minute to minute, so every method runs on each chunk in turn
    methods = {'bare forward (random tensors in memory)': lambda fs: bare_forward(model, len(fs), (3, h, w), a.bs),
               'old predict (sequential decode), warm': lambda fs: timed(old_predict, a.model, fs, a.bs)}
    for nw in a.workers:
        methods[f'new predict, warm (workers {nw if nw is not None else "default"})'] = (
            lambda fs, nw=nw: timed(predict, a.model, fs, bs=a.bs, device='cpu', n_workers=nw))
    secs, cpus, probs = {m: 0. for m in methods}, {m: 0. for m in methods}, {m: [] for m in methods}
    for r, chunk in enumerate(np.array_split(np.array(files, dtype=object), a.chunks)):
        names = list(methods)[r % len(methods):] + list(methods)[:r % len(methods)]
        for m in names:
            res, s, c = methods[m](list(chunk))
            secs[m] += s; cpus[m] += c
            if res is not None: probs[m].append(res.p_parasitized.values if hasattr(res, 'p_parasitized') else res)
    bare = len(files) / secs[next(iter(methods))]
    old = np.concatenate(probs['old predict (sequential decode), warm'])
    for m in methods:
        diff = f' (max |p - old| {np.abs(np.concatenate(probs[m]) - old).max():.0e})' if probs[m] and m.startswith('new') else ''
        rows.append((m + diff, len(files) / secs[m], cpus[m]))
    bare_cpu = rows[-len(methods)][2]
    print(f'{"":<72}{"img/s":>7}{"/ bare":>8}{"CPU ms/img":>12}{"bare CPU / CPU":>16}')
    for name, r, c in rows: print(f'{name:<72}{r:>7.0f}{r / bare:>8.2f}{1000 * c / len(files):>12.2f}{bare_cpu / c:>16.2f}')
    print('(CPU: seconds of all cores, the workers included; on a busy machine "bare CPU / CPU" predicts "/ bare" on an idle one better than the wall clock does)')
    print(f'load average at the end: {" ".join(f"{o:.1f}" for o in os.getloadavg())}')

if __name__ == '__main__': main()
