"""Rehearse a learner's Colab run on a CPU: notebooks 00-08 in the FULL profile's code path, at a tiny scale.

Everything Colab provides is stood in for, and nothing is written into the repository:
- **a GPU**: `MALARIA_NB_REHEARSAL=1` makes `course_profile()` return the full profile (ImageNet weights, the downloaded
  dataset, runs kept on Drive) capped at 32 pixels and 2 epochs; nothing else changes.
- **google.colab**: a stand-in package on `PYTHONPATH` whose `drive.mount` links *My Drive* to a folder that outlives the
  runtimes (`$MALARIA_NB_DRIVE` is the mount point).
- **the internet**: ImageNet-shaped weights (random tensors under the real names and shapes) in the caches that
  torchvision (`$TORCH_HOME/hub/checkpoints/<file of the weights' URL>`) and timm (a huggingface_hub cache,
  `HF_HUB_OFFLINE=1`) read; EfficientNet-Lite0 needs no stand-in: its real ImageNet weights come with a pip package
  (notebook 03a), and the rehearsal checks that the full profile's learner loads them; the dataset from a loopback HTTP server serving a zip of the embedded sample in the NIH
  archive's layout (`cell_images/<class>/*.png` and `Thumbs.db`), named by `$MALARIA_NB_URL`, `_SHA256` and `_SIZE`.
- **runtimes**: each notebook runs in a fresh working folder (Colab's /content: no data, no caches) with Drive
  unmounted, as a notebook opened in Colab gets a runtime of its own.

It then checks what a learner relies on: every notebook passes; the install cells install this version; the stand-in
weights are what the full profile loads; runs are kept on the stand-in Drive (and no checkpoint is left in a runtime's
working folder); they say they started from ImageNet weights; each run's checkpoint files are bounded in count (no file
per epoch) and bytes; and `malaria-nb train --pretrained`, killed after its first epoch as a lost runtime would be, is
finished by `malaria-nb train --resume` in a fresh process on the Drive folder. It prints the disk each run uses.

Usage (from the repo root):  python tools/rehearse_colab.py [--repo DIR] [--notebooks 03_resnet34,07_resume] [--no-cli] [--keep]
--repo runs another checkout's notebooks and package (to show that the checks fail on older code).
Exit status 1 if a check fails; the last line is `Colab rehearsal checks: N passed, M failed`.
"""
import argparse, functools, hashlib, http.server, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time, zipfile
from pathlib import Path

NOTEBOOKS = ['00_environment', '01_download', '02_data', '03_resnet34', '04_resnet18', '05_fine_tuning', '06_interpretation',
             '07_resume', '08_big_transfer']
RUNS = {'03_resnet34': '03_resnet34', '04_resnet18': '04_resnet18', '05_fine_tuning': '05_fine_tuning',
        '06_interpretation': '06_interpretation', '07_resume': '07_resume', '08_big_transfer': '08_big_transfer'}
# Disk a run may use (MiB) at most, about 10% over what it needs: one best-epoch file per model, two resumable
# checkpoints (the weights and Adam's two moments: 3x the weights), the export (safetensors and pickle) and its backup.
# The real architectures' files: resnet18 45 MiB, resnet34 83 MiB, BiT-M R50x1 90 MiB. A run that kept a file per
# epoch goes over at 2 epochs (and fails the count check as well). 08: BiT's two resumable checkpoints (weights and SGD's
# momentum: 2x 90 MiB each), its best epoch and ResNet18's: 493 MiB measured.
BUDGET_MB = {'03_resnet34': 100, '04_resnet18': 340, '05_fine_tuning': 200, '06_interpretation': 100, '07_resume': 350,
             '08_big_transfer': 545, 'train': 450}
CKPT_SUFFIXES = ('.pth', '.pt', '.safetensors', '.pkl')
BIT = 'resnetv2_50x1_bit.goog_in21k'
CLI_EPOCHS = 3

DRIVE_STUB = '''"A stand-in for Colab's google.colab.drive: `mount` links My Drive to $REHEARSAL_MY_DRIVE and logs the call"
import os
from pathlib import Path

def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    point = Path(mountpoint)
    point.mkdir(parents=True, exist_ok=True)
    link = point/'MyDrive'
    if link.is_symlink() and force_remount: link.unlink()
    if not link.exists(): link.symlink_to(os.environ['REHEARSAL_MY_DRIVE'], target_is_directory=True)
    with open(os.environ['REHEARSAL_MOUNT_LOG'], 'a') as f: f.write(f'{point}\\n')
    print(f'Mounted at {mountpoint}')
'''

class Checks:
    "Named checks: each passes or fails with a reason"
    def __init__(self): self.rows = []
    def __call__(self, name:str, ok:bool, detail:str=''):
        self.rows.append((name, bool(ok), detail))
        print(f'  {"PASS" if ok else "FAIL"}  {name}' + (f': {detail}' if detail else ''), flush=True)
        return ok

def stand_in_colab(root:Path) -> Path:
    "A `google.colab` package with `drive`, in a folder to put on PYTHONPATH (`google` stays a namespace package)"
    pkg = root/'google'/'colab'
    pkg.mkdir(parents=True)
    (pkg/'__init__.py').write_text('"A stand-in for google.colab, for the Colab rehearsal"\n')
    (pkg/'drive.py').write_text(DRIVE_STUB)
    return root

def stand_in_weights(torch_home:Path, hf_home:Path) -> dict:
    "ImageNet-shaped weights where torchvision and timm look for them; {name: file}"
    import torch, torchvision, timm
    from safetensors.torch import save_file
    ckpts, made = torch_home/'hub'/'checkpoints', {}
    ckpts.mkdir(parents=True)
    for arch in ('resnet18', 'resnet34'):
        fn = ckpts/Path(torchvision.models.get_model_weights(arch).DEFAULT.url).name
        torch.save(torchvision.models.get_model(arch).state_dict(), fn)   # random values, the real names and shapes
        made[arch] = fn
    repo, commit = hf_home/'hub'/f'models--timm--{BIT}', '0' * 40      # huggingface_hub's cache layout
    (repo/'snapshots'/commit).mkdir(parents=True)
    (repo/'refs').mkdir()
    (repo/'refs'/'main').write_text(commit)
    state = {k: v.contiguous() for k, v in timm.create_model(BIT, pretrained=False).state_dict().items()}
    save_file(state, str(repo/'snapshots'/commit/'model.safetensors'))
    made[BIT] = repo/'snapshots'/commit/'model.safetensors'
    return made

def nih_zip(fn:Path, sample:Path) -> Path:
    "The embedded sample zipped in the NIH archive's layout: cell_images/<class>/*.png, and a Thumbs.db in each class"
    with zipfile.ZipFile(fn, 'w') as zf:
        for c in ('Parasitized', 'Uninfected'):
            for f in sorted((sample/c).glob('*.png')): zf.write(f, f'cell_images/{c}/{f.name}')
            zf.writestr(f'cell_images/{c}/Thumbs.db', b'\xd0\xcf\x11\xe0' + bytes(508))
    return fn

def serve(folder:Path):
    "A loopback HTTP server for `folder`, in a thread; (server, url, counts of GETs per path)"
    gets = {}
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
        def do_GET(self):
            gets[self.path] = gets.get(self.path, 0) + 1
            return super().do_GET()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}', gets

def tool(name:str) -> str:
    "A console script of this Python's environment"
    exe = Path(sys.executable).parent/name
    return str(exe) if exe.exists() else (shutil.which(name) or name)

def checkpoint_files(folder:Path) -> list:
    return sorted(p for p in Path(folder).rglob('*') if p.is_file() and p.suffix in CKPT_SUFFIXES)

def mib(n:int) -> float: return n / 2**20

class Rehearsal:
    def __init__(self, repo:Path, work:Path):
        self.repo, self.work = repo, work
        self.storage = work/'drive_storage'          # what Google keeps: outlives every runtime
        self.point = work/'content'/'drive'          # where a runtime mounts it
        self.mount_log = work/'drive_mounts.log'
        self.storage.mkdir(parents=True)
        self.stray = []
        stub = stand_in_colab(work/'colab_stub')
        self.weights = stand_in_weights(work/'torch', work/'hf')
        www = work/'www'; www.mkdir()
        sample = repo/'malaria_nb'/'sample'/'cell_images'
        z = nih_zip(www/'cell_images.zip', sample)
        self.server, base, self.gets = serve(www)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(('MALARIA_NB_', 'IN_TEST', 'HF_', 'TORCH_HOME'))}
        self.env.update(PYTHONPATH=os.pathsep.join([str(stub), str(repo)]), MALARIA_NB_REHEARSAL='1',
                        MALARIA_NB_DRIVE=str(self.point), REHEARSAL_MY_DRIVE=str(self.storage), REHEARSAL_MOUNT_LOG=str(self.mount_log),
                        TORCH_HOME=str(work/'torch'), HF_HOME=str(work/'hf'), HF_HUB_OFFLINE='1', FASTAI_HOME=str(work/'fastai'),
                        MALARIA_NB_URL=f'{base}/cell_images.zip', MALARIA_NB_SIZE=str(z.stat().st_size),
                        MALARIA_NB_SHA256=hashlib.sha256(z.read_bytes()).hexdigest(), PYTHONUNBUFFERED='1')

    def runtime(self, name:str) -> tuple:
        "A fresh Colab-like runtime: an empty working folder (always the same path, as /content is), its own temp and caches, Drive not mounted"
        link = self.point/'MyDrive'
        if link.is_symlink(): link.unlink()          # the runtime that mounted it is gone
        rt = self.work/'runtime'
        shutil.rmtree(rt, ignore_errors=True)
        (rt/'content').mkdir(parents=True)
        (rt/'tmp').mkdir()
        shutil.copy(self.repo/'pyproject.toml', rt/'pyproject.toml')   # nbdev-test's settings (it looks upwards)
        self.name = name
        return rt, {**self.env, 'TMPDIR': str(rt/'tmp'), 'MALARIA_NB_CACHE': str(rt/'cache')}

    def strays(self) -> list:
        "Checkpoint files in the runtime's working folder, which the end of the runtime takes with it"
        return [f'{self.name}: {p.relative_to(self.work/"runtime"/"content")}' for p in checkpoint_files(self.work/'runtime'/'content')]

    def notebook(self, nb:str) -> tuple:
        "Run notebook `nb` with nbdev-test in a fresh runtime; (passed, seconds, log tail, stray checkpoints)"
        rt, env = self.runtime(nb)
        shutil.copy(self.repo/'nbs'/f'{nb}.ipynb', rt/'content'/f'{nb}.ipynb')
        start = time.time()
        res = subprocess.run([tool('nbdev-test'), str(rt/'content'/f'{nb}.ipynb')], cwd=rt, env=env, capture_output=True, text=True)
        return res.returncode == 0, time.time() - start, (res.stdout + res.stderr)[-3000:], self.strays()

    def python(self, code:str, env:dict, cwd:Path, timeout:int=600):
        return subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

    def cli(self, env:dict, cwd:Path, *args, timeout:int=600):
        return subprocess.run([sys.executable, '-m', 'malaria_nb.cli', *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

LOADS = '''
import torch, timm
from safetensors.torch import load_file
from malaria_nb.data import sample_path
from malaria_nb.cache import malaria_dls
from malaria_nb.train import malaria_learner
from malaria_nb.bit import bit_model
fake = torch.load({r34!r}, weights_only=True)
learn = malaria_learner(malaria_dls(sample_path(), size=32, bs=32), 'resnet34', pretrained=True)
print('resnet34', torch.equal(learn.model[0][0].weight, fake['conv1.weight']))
bit = load_file({bit!r})
model = bit_model(2, pretrained=True)
print('bit', torch.equal(model.stem.conv.weight, bit['stem.conv.weight']))
from malaria_nb.imagenet import lite0_weights_file
real = torch.load(lite0_weights_file(), map_location='cpu', weights_only=True)   # the package's file, not a stand-in
lite = malaria_learner(malaria_dls(sample_path(), size=32, bs=32), 'efficientnet_lite0', pretrained=True)
print('lite0', torch.equal(lite.model[0][1].weight, real['_conv_stem.weight']) and torch.equal(lite.model[0][-1].weight, real['_bn1.weight']))
'''

def check_runs(r:Rehearsal, check:Checks, notebooks:list, cli:bool) -> list:
    "Checks on what the runs left on the stand-in Drive; rows for the disk table"
    root, rows = r.storage/'malaria_nb', []
    want = [RUNS[nb] for nb in notebooks if nb in RUNS] + (['train'] if cli else [])
    missing = [n for n in want if not checkpoint_files(root/n)]
    if want: check('runs are kept on the stand-in Google Drive', not missing and want,
          f'no checkpoint in My Drive/malaria_nb/ for {missing}' if missing else f'{len(want)} run folder(s): {", ".join(want)}')
    check("no checkpoint is left in a runtime's working folder (lost with the runtime)", not r.stray, ', '.join(r.stray[:5]))
    for n in want:
        if n in missing: continue                    # failed above
        files = [p for p in (root/n).rglob('*') if p.is_file()]
        ckpts = checkpoint_files(root/n)
        per_epoch = {}
        for p in ckpts:
            if m := re.fullmatch(r'(.+)_(\d+)\.pth', p.name): per_epoch.setdefault((p.parent, m.group(1)), []).append(p.name)
        grown = {f'{d.relative_to(root)}/{k}_*.pth': v for (d, k), v in per_epoch.items() if len(v) > 1}
        resumable = {d.relative_to(root): n_ for d in {p.parent for p in ckpts} if (n_ := len(list(d.glob('resume_*.pt')))) > 2}
        size = sum(p.stat().st_size for p in files)
        ok = check(f'{n}: checkpoint files bounded (one per model, at most 2 resumable, {BUDGET_MB[n]} MiB)',
                   not grown and not resumable and mib(size) <= BUDGET_MB[n],
                   f'{len(ckpts)} checkpoint file(s), {mib(size):.1f} MiB' + (f'; one file per epoch: {grown}' if grown else '')
                   + (f'; resumable checkpoints: {resumable}' if resumable else ''))
        rows.append((n, len(ckpts), mib(sum(p.stat().st_size for p in ckpts)), mib(size), ok))
    pretrained = {}
    for n, f, key in [('04_resnet18', 'model/model.json', 'pretrained'), ('05_fine_tuning', 'deploy/model.json', 'pretrained'),
                      ('07_resume', 'metrics.json', 'pretrained'), ('train', 'metrics.json', 'pretrained'), ('train', 'model/model.json', 'pretrained')]:
        if n not in want: continue
        try: pretrained[f'{n}/{f}'] = json.loads((root/n/f).read_text()).get(key)
        except (OSError, ValueError) as e: pretrained[f'{n}/{f}'] = f'unreadable ({type(e).__name__})'
    if pretrained:
        check('runs started from ImageNet weights (metrics.json / model.json say pretrained)', all(v is True for v in pretrained.values()),
              ', '.join(f'{k}: {v}' for k, v in pretrained.items()))
    return rows

def rehearse_cli(r:Rehearsal, check:Checks):
    "`malaria-nb train --pretrained` into the default folder (Drive), killed after its first epoch; `--resume` in a fresh runtime"
    rt, env = r.runtime('cli-1')
    cwd = rt/'content'
    res = r.cli(env, cwd, 'train', '--pretrained', '--epochs', '1', '--size', '32')
    check('in Colab, `malaria-nb train` stops in one line while Drive is not mounted', res.returncode == 2 and 'Google Drive is not mounted' in res.stderr
          and res.stderr.strip().count('\n') == 0, res.stderr.strip()[-300:])
    res = r.cli(env, cwd, 'download', '--dest', 'data', '--url', env['MALARIA_NB_URL'], '--sha256', env['MALARIA_NB_SHA256'],
                '--size', env['MALARIA_NB_SIZE'], '--quiet')
    mount = r.python('from malaria_nb.environment import runs_root; runs_root()', env, cwd)   # a notebook cell mounts Drive
    if not check('the dataset downloads and Drive mounts in a fresh runtime', res.returncode == 0 and mount.returncode == 0,
                 (res.stderr + mount.stderr).strip()[-300:]): return
    run = r.point/'MyDrive'/'malaria_nb'/'train'
    first = run/'checkpoints'/'resume_000.pt'
    args = [sys.executable, '-m', 'malaria_nb.cli', 'train', '--pretrained', '--data', 'data/train', '--epochs', str(CLI_EPOCHS),
            '--size', '32', '--bs', '32']
    log = open(r.work/'train.log', 'w')
    p = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while p.poll() is None and not first.exists() and time.time() < deadline: time.sleep(0.05)
    if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)   # the runtime is lost, with every process in it
    p.wait(); log.close()
    r.stray += r.strays()
    killed = first.exists() and not (run/'metrics.json').exists()
    if not check('the run was kept on Drive and lost its runtime after the first epoch', killed,
                 f'exit {p.returncode}; ' + (r.work/'train.log').read_text()[-400:].replace('\n', ' | ')): return
    rt, env = r.runtime('cli-2')                            # a new runtime: mount Drive again, then resume
    cwd = rt/'content'
    r.cli(env, cwd, 'download', '--dest', 'data', '--url', env['MALARIA_NB_URL'], '--sha256', env['MALARIA_NB_SHA256'],
          '--size', env['MALARIA_NB_SIZE'], '--quiet')            # its disk is new: the data is fetched again, to the same path
    r.python('from malaria_nb.environment import runs_root; runs_root()', env, cwd)
    res = r.cli(env, cwd, 'train', '--resume', str(run))
    try: m = json.loads((run/'metrics.json').read_text())
    except (OSError, ValueError): m = {}
    check('`malaria-nb train --resume` in a fresh process finishes the run on Drive',
          res.returncode == 0 and m.get('epochs') == CLI_EPOCHS and m.get('resumed') is True and m.get('sessions') == 2,
          f"exit {res.returncode}; epochs {m.get('epochs')}, resumed {m.get('resumed')}, sessions {m.get('sessions')}; " + res.stderr.strip()[-300:])
    r.stray += r.strays()
    recipe = {k: m.get(k) for k in ('pretrained', 'freeze_epochs', 'head_lr', 'lr_min', 'lr')}
    check("the run followed the tutorial's transfer recipe", recipe == dict(pretrained=True, freeze_epochs=2, head_lr=1e-3, lr_min=1e-5, lr=1e-4),
          str(recipe))

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repo', type=Path, default=Path(__file__).resolve().parent.parent, help='the checkout to rehearse (default: this one)')
    p.add_argument('--notebooks', default=','.join(NOTEBOOKS), help='comma-separated notebook names (default: 00 to 08)')
    p.add_argument('--no-cli', action='store_true', help='skip the `malaria-nb train` kill-and-resume rehearsal')
    p.add_argument('--keep', action='store_true', help='keep the temporary folder (its path is printed)')
    a = p.parse_args(argv)
    repo, notebooks, start = a.repo.resolve(), [n.strip() for n in a.notebooks.split(',') if n.strip()], time.time()
    work = Path(tempfile.mkdtemp(prefix='colab-rehearsal-'))
    check = Checks()
    print(f'Colab rehearsal of {repo} in {work}', flush=True)
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import pin_install
        check('every install cell installs this version (pinned)', pin_install.main(check=True, root=repo) == 0)
        r = Rehearsal(repo, work)
        print(f'stand-ins ready in {time.time() - start:.0f} s: google.colab, ImageNet-shaped weights, dataset at {r.env["MALARIA_NB_URL"]}', flush=True)
        rt, env = r.runtime('weights')
        res = r.python(LOADS.format(r34=str(r.weights['resnet34']), bit=str(r.weights[BIT])), env, rt/'content')
        check('the full profile loads the stand-in ImageNet weights (torchvision and timm caches) and the real EfficientNet-Lite0 ones (its package)',
              res.returncode == 0 and 'resnet34 True' in res.stdout and 'bit True' in res.stdout and 'lite0 True' in res.stdout,
              ' | '.join(l for l in res.stdout.splitlines() if l.startswith(('resnet34', 'bit ', 'lite0'))) if res.returncode == 0 else res.stderr.strip()[-300:])
        for nb in notebooks:
            ok, secs, tail, stray = r.notebook(nb)
            r.stray += stray
            check(f'notebook {nb} passes in the full profile ({secs:.0f} s)', ok, '' if ok else '\n' + tail)
        mounts = r.mount_log.read_text().splitlines() if r.mount_log.exists() else []
        keepers = [nb for nb in notebooks if nb in RUNS]
        check('each runtime that keeps runs mounted Google Drive', len(mounts) >= len(keepers), f'{len(mounts)} mount(s) for {len(keepers)} notebook(s)')
        if '01_download' in notebooks: check("the dataset was downloaded by notebook 01's code", r.gets.get('/cell_images.zip', 0) >= 1,
                                             f"{r.gets.get('/cell_images.zip', 0)} download(s) from the loopback server")
        if not a.no_cli: rehearse_cli(r, check)
        rows = check_runs(r, check, notebooks, not a.no_cli)
        print('\nDisk used on Drive per run (real architectures; file sizes do not depend on the image size):')
        print(f'  {"run":<20}{"checkpoint files":>17}{"checkpoints MiB":>17}{"folder MiB":>12}')
        for n, k, c, t, ok in rows: print(f'  {n:<20}{k:>17}{c:>17.1f}{t:>12.1f}')
        r.server.shutdown()
    finally:
        if a.keep: print(f'kept {work}')
        else: shutil.rmtree(work, ignore_errors=True)
    passed = sum(ok for _, ok, _ in check.rows)
    failed = len(check.rows) - passed
    print(f'\nColab rehearsal took {time.time() - start:.0f} s')
    print(f'Colab rehearsal checks: {passed} passed, {failed} failed')
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
