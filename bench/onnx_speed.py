"""Speed, size and accuracy of one model as PyTorch fp32, ONNX fp32 and ONNX int8, side by side, on ONE CPU thread.

The model is a `save_cell_model` folder (e.g. what `malaria-nb train` wrote). The script
1. exports it to ONNX with `malaria_nb.phone.export_onnx` (preprocessing in the graph);
2. quantises it to int8 with `int8_from_folder`: calibration cells drawn from the TRAINING slides of --data, the
   check on all cells of its VALIDATION slides (the patient split recorded in model.json: valid_pct, seed);
3. scores the three versions on those validation cells, with slide-bootstrap intervals of the change from PyTorch;
4. times them with one thread (torch.set_num_threads(1); onnxruntime intra_op_num_threads=1): latency per cell at
   batch 1 and throughput at batch 64, in interleaved rounds (median of rounds), all three fed the same uint8 batch
   and running the same preprocessing (`cell_pipeline` in PyTorch).

Usage (from the repository root):
    python bench/onnx_speed.py --model runs/train/model --data DATA/cell_images [--out-dir DIR] [--calib-cells 256]
                               [--rounds 5] [--single 100] [--batches 4] [--max-sens-drop 0.5]
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's malaria_nb, not another installed copy

import warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
import numpy as np, torch, onnxruntime as ort
from malaria_nb.data import cell_files, patient_split, slide_of
from malaria_nb.export import load_cell_model
from malaria_nb.phone import (cell_batch, cell_pipeline, export_onnx, int8_from_folder, onnx_session, onnx_probs,
                              paired_slide_bootstrap)

def cpu_name() -> str:
    "The CPU's model name, and the int8 dot-product instructions it has (int8 speed depends on them)"
    try:
        info = open('/proc/cpuinfo').read().splitlines()
        name = next(l.split(':', 1)[1].strip() for l in info if l.startswith('model name'))
        flags = next(l.split(':', 1)[1].split() for l in info if l.startswith('flags'))
        return f'{name} ({", ".join(f for f in ("avx2", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags) or "no AVX2"})'
    except (OSError, StopIteration): return platform.processor() or platform.machine()

def timed(fn, n:int) -> float:
    "Seconds per call of `fn`, over `n` calls"
    start = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - start) / n

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', type=Path, required=True, help='a save_cell_model folder (model.json, model.safetensors)')
    ap.add_argument('--data', type=Path, required=True, help='the cell_images folder the model was trained on')
    ap.add_argument('--out-dir', type=Path, default=None, help='where the .onnx files go (default: a temporary folder)')
    ap.add_argument('--calib-cells', type=int, default=256)
    ap.add_argument('--max-sens-drop', type=float, default=0.5)
    ap.add_argument('--rounds', type=int, default=5, help='interleaved timing rounds; the median is reported')
    ap.add_argument('--single', type=int, default=100, help='batch-1 calls per round')
    ap.add_argument('--batches', type=int, default=4, help='batch-64 calls per round')
    a = ap.parse_args(argv)

    torch.set_num_threads(1); torch.set_num_interop_threads(1)
    out_dir = a.out_dir or Path(tempfile.mkdtemp())
    model, meta = load_cell_model(a.model)
    run = meta.get('metrics') or {}
    valid_pct, seed = run.get('valid_pct', 0.2), run.get('seed', 42)
    print(f'machine: {cpu_name()}, {os.cpu_count()} logical CPUs; python {platform.python_version()}, torch {torch.__version__}, '
          f'onnxruntime {ort.__version__}; ONE thread for all')
    print(f'model: {a.model} ({meta["arch"]}, {meta["image_size"][0]} px, trained epochs {run.get("epochs")}, '
          f'split {run.get("split")} valid_pct {valid_pct} seed {seed})')

    t0 = time.perf_counter()
    f32 = export_onnx(a.model, out_dir/'model.onnx')
    t1 = time.perf_counter()
    r8 = int8_from_folder(f32, out_dir/'model.int8.onnx', a.data, valid_pct, seed, a.calib_cells, a.max_sens_drop)
    t2 = time.perf_counter()
    f8 = out_dir/'model.int8.onnx'
    print(f'export {t1 - t0:.1f} s; int8 quantisation and check {t2 - t1:.1f} s; calibration {r8["calibration_cells"]} cells '
          f'from {r8["calibration_slides"]} training slides')

    files = cell_files(a.data)
    tr, va = patient_split(files, valid_pct, 0., seed)[:2]
    vfiles = [files[i] for i in va]
    x = cell_batch(vfiles, meta['image_size'])
    y = np.array([meta['classes'].index(f.parent.name) for f in vfiles])
    slides = [slide_of(f) for f in vfiles]
    pos = meta['classes'].index('Parasitized')

    pipe = cell_pipeline(model, meta)
    sessions = {name: onnx_session(f, threads=1)[0] for name, f in (('onnx_fp32', f32), ('onnx_int8', f8))}
    with torch.inference_mode():
        p_torch = torch.cat([pipe(torch.from_numpy(x[i:i+256])) for i in range(0, len(x), 256)]).numpy()
    preds = dict(torch_fp32=p_torch, **{k: onnx_probs(s, x) for k, s in sessions.items()})
    print(f'\nvalidation: {len(x)} cells ({int((y == pos).sum())} parasitized) from {len(set(slides))} slides never used in training '
          f'or calibration; change from PyTorch fp32 in points, 95% slide-bootstrap interval (2000 resamples)')
    print(f'{"":<12}{"accuracy":>10}{"sensitivity":>13}{"specificity":>13}   {"accuracy change":<26}{"sensitivity change":<26}{"max |dp|":>9}')
    for k, p in preds.items():
        pr = p.argmax(1)
        acc, sens, spec = [100 * float(m) for m in ((pr == y).mean(), (pr[y == pos] == pos).mean(), (pr[y != pos] != pos).mean())]
        r = paired_slide_bootstrap(slides, y, p_torch.argmax(1), pr, pos=pos)
        ch = lambda m: f'{r[m]["change"]:+.2f} [{r[m]["low"]:+.2f}, {r[m]["high"]:+.2f}]'
        print(f'{k:<12}{acc:>10.2f}{sens:>13.2f}{spec:>13.2f}   {ch("accuracy"):<26}{ch("sensitivity"):<26}{np.abs(p - p_torch).max():>9.1e}')

    xb1, xb64 = x[:1], x[:64]
    runners = {'torch_fp32': lambda xb: pipe(torch.from_numpy(xb)),
               **{k: (lambda s: lambda xb: s.run(None, {'images': xb}))(s) for k, s in sessions.items()}}
    res = {k: dict(b1=[], b64=[]) for k in runners}
    with torch.inference_mode():
        for f in runners.values(): f(xb1); f(xb64)   # warm-up
        for _ in range(a.rounds):
            for k, f in runners.items():
                res[k]['b1'].append(timed(lambda: f(xb1), a.single))
                res[k]['b64'].append(timed(lambda: f(xb64), a.batches) / 64)
    sizes = dict(torch_fp32=(a.model/'model.safetensors').stat().st_size, onnx_fp32=f32.stat().st_size, onnx_int8=f8.stat().st_size)
    base1, base = np.median(res['torch_fp32']['b1']), np.median(res['torch_fp32']['b64'])
    print(f'\nspeed on ONE thread, median of {a.rounds} interleaved rounds ({a.single} batch-1 calls, {a.batches} batch-64 calls each)')
    print(f'{"":<12}{"batch 1: ms/cell":>18}{"cells/s":>10}{"vs torch":>10}{"batch 64: ms/cell":>19}{"cells/s":>10}{"vs torch":>10}{"file MiB":>10}')
    for k, r in res.items():
        b1, b64 = np.median(r['b1']), np.median(r['b64'])
        print(f'{k:<12}{1e3 * b1:>18.2f}{1 / b1:>10.0f}{base1 / b1:>9.2f}x{1e3 * b64:>19.3f}{1 / b64:>10.0f}{base / b64:>9.2f}x{sizes[k] / 2**20:>10.1f}')
    print(f'\nfiles: {a.model/"model.safetensors"}, {f32}, {f8}')
    return 0

if __name__ == '__main__': sys.exit(main())
