"""Images per second delivered to the model: fastai's plain item pipeline against the decode-once cache.

(a) plain: `ImageDataLoaders.from_folder` with `Resize(size, squish)` per item and flips + ImageNet normalisation
    per batch, 2 DataLoader workers (the tutorial's pipeline in fastai 2).
(b) cached: `malaria_nb.cache.cached_dls`, batches sliced from a memory-mapped uint8 cache, flips and
    normalisation on the batch; plus the one-time cost of building that cache (2 worker processes).
Both read the same images and use the same random 80/20 split (seed 42); both deliver normalised float batches
on the device (the GPU if there is one). The first batch of each run is a warm-up and is timed separately.

Usage (from the repository root):
    python bench/data_pipeline.py [--data DIR] [--n N] [--size 128] [--bs 64] [--workers 2]
                                  [--plain-batches 0] [--cached-epochs 3] [--torch-threads T]
"""
import argparse, os, platform, random, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's malaria_nb, not another installed copy

import numpy as np, PIL, torch, fastai
from fastai.vision.all import *
from malaria_nb.data import cell_files, check_image_folder
from malaria_nb.cache import cell_cache, cached_dls

def subset_folder(src:Path, n:int, dest:Path) -> Path:
    "A folder of symlinks to `n` images of `src` drawn at random (seed 0), in the same class layout"
    files = random.Random(0).sample(list(cell_files(src)), n)
    for f in files:
        d = dest/f.parent.name; d.mkdir(parents=True, exist_ok=True)
        (d/f.name).symlink_to(f.resolve())
    return dest

def rate(dl, max_batches:int=0, epochs:int=1) -> dict:
    "Iterate `dl` (`epochs` times, or `max_batches` batches if > 0); time to the first batch and images/s after it"
    dev = getattr(dl, 'device', None)
    sync = (lambda: torch.cuda.synchronize()) if dev is not None and torch.device(dev).type == 'cuda' else (lambda: None)
    start, first, n, nb = time.perf_counter(), None, 0, 0
    for _ in range(epochs):
        for xb, yb in dl:
            assert xb.dtype == torch.float32
            nb += 1
            if first is None: sync(); first = time.perf_counter()
            else: n += len(xb)
            if max_batches and nb > max_batches: break
        if max_batches and nb > max_batches: break
    sync(); end = time.perf_counter()
    return dict(first_s=first - start, batches=nb - 1, images=n, seconds=end - first, img_s=n / (end - first))

def machine() -> dict:
    "The machine and library versions, for the record"
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    nproc = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    return dict(date=time.strftime('%Y-%m-%d %H:%M %Z'), nproc=nproc, ram_gib=round(mem, 1), gpu=gpu,
                cpu=platform.processor() or platform.machine(), python=platform.python_version(), torch=torch.__version__,
                torch_threads=torch.get_num_threads(), fastai=fastai.__version__, numpy=np.__version__, pillow=PIL.__version__,
                loadavg=' '.join(f'{o:.1f}' for o in os.getloadavg()))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=str(ROOT/'..'/'shared'/'data'/'nih-malaria-dev'/'cell_images'))
    p.add_argument('--n', type=int, default=0, help='use n images drawn at random (default: all)')
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--workers', type=int, default=2, help='DataLoader workers (plain) and cache-building processes')
    p.add_argument('--plain-batches', type=int, default=0, help='timed batches of the plain path (default: one epoch)')
    p.add_argument('--cached-epochs', type=int, default=3, help='epochs of the cached path to time')
    p.add_argument('--torch-threads', type=int, default=0, help='torch intra-op threads in the main process (default: torch\'s)')
    a = p.parse_args()
    if a.torch_threads: torch.set_num_threads(a.torch_threads)
    data, tmp = Path(a.data), Path(tempfile.mkdtemp(prefix='bench_data_'))
    try:
        check_image_folder(data)
        if a.n: data = subset_folder(data, a.n, tmp/'cells')
        n_all, device = len(cell_files(data)), default_device()
        info = machine()
        print(f'{n_all} images from {a.data}, {a.size} px, bs {a.bs}, {a.workers} workers, device {device}')
        print(info)

        plain = ImageDataLoaders.from_folder(data, valid_pct=0.2, seed=42, item_tfms=Resize(a.size, ResizeMethod.Squish),
            batch_tfms=[*aug_transforms(flip_vert=True, max_rotate=0., max_zoom=1., max_lighting=0., max_warp=0.),
                        Normalize.from_stats(*imagenet_stats)], bs=a.bs, num_workers=a.workers, device=device)
        r_plain = rate(plain.train, max_batches=a.plain_batches)
        print('plain ', r_plain)

        start = time.perf_counter()
        cache = cell_cache(data, a.size, cache_dir=tmp/'cache', n_workers=a.workers, progress=False)
        build_s = time.perf_counter() - start
        assert cache.built
        start = time.perf_counter()
        assert not cell_cache(data, a.size, cache_dir=tmp/'cache').built
        reuse_s = time.perf_counter() - start
        cdls = cached_dls(data, size=a.size, bs=a.bs, split='random', cache_dir=tmp/'cache', device=device)
        both = lambda d: {str(o) for o in [*d.train_ds.items, *d.valid_ds.items]}
        assert both(cdls) == both(plain) and len(cdls.train_ds) == len(plain.train_ds)  # same images, same split sizes
        r_cached = rate(cdls.train, epochs=a.cached_epochs)
        print('cached', r_cached)

        ratio = r_cached['img_s'] / r_plain['img_s']
        what = 'one epoch' if not a.plain_batches else f'{r_plain["batches"]} batches'
        rows = [('(a) plain fastai item pipeline', f'{r_plain["img_s"]:,.0f}',
                 f'{r_plain["images"]:,} images ({what} after the first batch) in {r_plain["seconds"]:.1f} s; first batch {r_plain["first_s"]:.1f} s'),
                ('(b) cached_dls', f'{r_cached["img_s"]:,.0f}',
                 f'{r_cached["images"]:,} images ({a.cached_epochs} epochs after the first batch) in {r_cached["seconds"]:.2f} s; first batch {r_cached["first_s"]:.2f} s'),
                ('(b) one-time cache build', f'{n_all / build_s:,.0f}', f'{n_all:,} images in {build_s:.1f} s ({cache.images.nbytes / 2**20:.0f} MiB); reuse check {reuse_s:.2f} s')]
        print(f'\n| pipeline | images/s | measured |\n|---|---:|---|')
        for r in rows: print(f'| {r[0]} | {r[1]} | {r[2]} |')
        print(f'\n(b) / (a): {ratio:.1f}x (target 10x: {"met" if ratio >= 10 else "MISSED"}); '
              f'build + first cached epoch vs first plain epoch: the cache pays for itself when the build '
              f'({build_s:.1f} s) is shorter than the plain epochs it replaces ({len(plain.train) * a.bs / r_plain["img_s"]:.1f} s each)')
        print(f'load average at the end: {" ".join(f"{o:.1f}" for o in os.getloadavg())}')
    finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
