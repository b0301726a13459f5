"""Check that the ONNX predictor needs only onnxruntime, NumPy and Pillow: no torch, no fastai.

In a virtual environment that has only those three packages (created if missing), it runs
  1. `malaria_nb/phone.py` copied ALONE into an empty folder (as an app would ship it): `predict_onnx` on the images;
  2. the package from this checkout: `import malaria_nb.phone`, and `python -m malaria_nb.cli predict-onnx`;
and compares the results with the safetensors model run by PyTorch (`malaria_nb.export.predict`) in this Python:
probabilities within 1e-4, the same label on every image. Slow (it may install packages): not part of CI.

Usage (from the repository root, with the course's Python):
    python tools/check_torch_free.py --model runs/train/model [--venv /tmp/ortvenv] [--images FOLDER] [--onnx FILE]
"""
import argparse, json, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)   # fastai's import

SOLO = '''
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    import torch
    has_torch = True
except ImportError: has_torch = False
import phone
res = phone.predict_onnx(sys.argv[2], sys.argv[3], threads=1)
print(json.dumps(dict(has_torch=has_torch, loaded=sorted(m for m in ('torch', 'fastai', 'pandas', 'malaria_nb') if m in sys.modules),
                      module=phone.__file__, res=res)))
'''

def venv_python(venv:Path) -> Path:
    "The venv's python, after creating the venv with only onnxruntime, numpy and pillow if it is missing"
    py = venv/'bin'/'python'
    if not py.exists():
        print(f'creating {venv} (onnxruntime, numpy, pillow only)')
        subprocess.run(['python3', '-m', 'venv', str(venv)], check=True)
        subprocess.run([str(venv/'bin'/'pip'), 'install', '-q', 'onnxruntime', 'numpy', 'pillow'], check=True)
    return py

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', type=Path, required=True, help='a save_cell_model folder; the reference predictions come from it')
    ap.add_argument('--venv', type=Path, default=Path('/tmp/ortvenv'))
    ap.add_argument('--images', type=Path, default=None, help='images to predict (default: the embedded sample, 360 cells)')
    ap.add_argument('--onnx', type=Path, default=None, help='the ONNX export of --model (default: exported now)')
    a = ap.parse_args(argv)
    from malaria_nb.data import sample_path
    from malaria_nb.export import predict
    from malaria_nb.phone import export_onnx
    images, tmp = a.images or sample_path(), Path(tempfile.mkdtemp())
    onnx_file = a.onnx or export_onnx(a.model, tmp/'model.onnx')
    py = venv_python(a.venv)
    pkgs = subprocess.run([str(py), '-m', 'pip', 'list', '--format=freeze'], capture_output=True, text=True, check=True).stdout.split()
    print(f'venv {a.venv}: python {subprocess.run([str(py), "--version"], capture_output=True, text=True).stdout.strip()}; packages: {", ".join(pkgs)}')

    solo = tmp/'solo'; solo.mkdir()
    shutil.copy(ROOT/'malaria_nb'/'phone.py', solo/'phone.py')
    out = subprocess.run([str(py), '-I', '-c', SOLO, str(solo), str(onnx_file), str(images)], capture_output=True, text=True, cwd=solo)
    if out.returncode: print(out.stderr); return 1
    got = json.loads(out.stdout)
    print(f'1. phone.py alone ({got["module"]}): torch importable: {got["has_torch"]}; loaded of torch/fastai/pandas/malaria_nb: {got["loaded"]}')

    env = {'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'}
    pkg = subprocess.run([str(py), '-c', 'import sys, malaria_nb.phone as p; print(p.__file__, sorted(m for m in ("torch", "fastai") if m in sys.modules))'],
                         capture_output=True, text=True, env=env, cwd=tmp)
    print(f'2. import malaria_nb.phone from the checkout: rc {pkg.returncode} {pkg.stdout.strip() or pkg.stderr.strip().splitlines()[-1]}')
    cli = subprocess.run([str(py), '-m', 'malaria_nb.cli', 'predict-onnx', str(images), '--model', str(onnx_file), '--out', str(tmp/'p.csv'),
                          '--threads', '1'], capture_output=True, text=True, env=env, cwd=tmp)
    print(f'   python -m malaria_nb.cli predict-onnx: rc {cli.returncode}: {(cli.stdout or cli.stderr).strip()}')

    ref = predict(a.model, images, device='cpu')
    res = got['res']
    import numpy as np
    same_files = list(ref.file) == res['file']
    diff = float(np.abs(np.array(res['p_parasitized']) - ref.p_parasitized.values).max())
    same_labels = list(ref.label) == res['label']
    import csv
    with open(tmp/'p.csv') as f: cli_rows = list(csv.DictReader(f))
    cli_same = [r['label'] for r in cli_rows] == list(ref.label)
    print(f'3. against PyTorch (safetensors model): {len(res["file"])} images, same files {same_files}, largest probability difference '
          f'{diff:.1e}, labels equal on all {same_labels}; CLI labels equal {cli_same}')
    ok = (not got['has_torch'] and not got['loaded'] and pkg.returncode == 0 and cli.returncode == 0 and same_files and diff <= 1e-4
          and same_labels and cli_same)
    print('OK: the predictor runs without torch and agrees with PyTorch' if ok else 'FAILED')
    shutil.rmtree(tmp)
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
