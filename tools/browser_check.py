"""Try the cell reader of nbs/10_deploy.ipynb in a real browser: JupyterLab on localhost, headless Chromium.

It copies the notebook to a temporary folder (so JupyterLab's autosave never touches the repository), starts
JupyterLab there with this checkout on PYTHONPATH, opens the notebook in headless Chromium, runs all cells, uploads
two cells of the embedded sample (one of each class) through the widget's upload button and file chooser, checks that the reader
drew their two cards and its summary, and saves a screenshot of the widget (a palette PNG under 150 kB).
Not part of the tests: it needs a browser.

Needs Debian's Chromium and Playwright for Python, which drives it (do not run `playwright install`, which downloads
browsers of its own):
    apt-get install chromium chromium-driver
    pip install playwright
Usage, from the repository root:
    python tools/browser_check.py [--out nbs/images/10_reader.png] [--chromium /usr/bin/chromium] [--timeout 900]
"""
import argparse, json, os, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB = 'nbs/10_deploy.ipynb'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']
# JupyterLab settings for this run only: every cell rendered (no windowing), no news or update checks
SETTINGS = {'@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
            '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false', 'checkForUpdates': False}}
# The state of the notebook: code cells, how many ran, their errors, the kernel's status
STATE_JS = """() => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.content || !nb.content.model || !nb.sessionContext) return null;
  const cells = nb.content.model.cells, errors = [];
  let n = 0, done = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    n += 1;
    if (c.executionCount !== null) done += 1;
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
    }
  }
  const k = nb.sessionContext.session && nb.sessionContext.session.kernel;
  return {n, done, errors, kernel: k ? k.status : 'none'};
}"""

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def log(t0, msg): print(f'[{time.time() - t0:6.1f} s] {msg}', flush=True)

def start_lab(work:Path, port:int, token:str) -> subprocess.Popen:
    "JupyterLab serving `work` on 127.0.0.1:`port`, with settings, config and runtime folders of its own"
    for name, value in SETTINGS.items():
        (work/'settings'/name).parent.mkdir(parents=True, exist_ok=True)
        (work/'settings'/name).write_text(json.dumps(value))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''), MALARIA_NB_QUICK='1',
               JUPYTERLAB_SETTINGS_DIR=str(work/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(work/'workspaces'),
               JUPYTER_CONFIG_DIR=str(work/'config'), JUPYTER_RUNTIME_DIR=str(work/'runtime'), IPYTHONDIR=str(work/'ipython'))
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work/"nb"}', '--LabApp.expose_app_in_browser=True',
           '--LabApp.extension_manager=readonly', '--LabApp.news_url=None'] + (['--allow-root'] if os.geteuid() == 0 else [])
    return subprocess.Popen(cmd, env=env, stdout=open(work/'lab.log', 'w'), stderr=subprocess.STDOUT, start_new_session=True)

def wait_lab(port:int, token:str, proc, timeout:float=90):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None: raise RuntimeError(f'JupyterLab exited with status {proc.returncode}')
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/status?token={token}', timeout=2) as r:
                return json.loads(r.read())
        except OSError: time.sleep(0.5)
    raise TimeoutError(f'JupyterLab did not answer on port {port} within {timeout} s')

def small_png(src:Path, dest:Path, limit:int=150_000) -> int:
    "Save the screenshot `src` to `dest` as a palette PNG under `limit` bytes (halving its size if need be); its size"
    from PIL import Image
    im = Image.open(src).convert('RGB')
    while True:
        im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
        if dest.stat().st_size < limit or im.width < 300: return dest.stat().st_size
        im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='nbs/images/10_reader.png', help='where to save the screenshot (default: %(default)s)')
    p.add_argument('--chromium', default='/usr/bin/chromium', help='the Chromium to drive (default: %(default)s)')
    p.add_argument('--timeout', type=int, default=900, help='seconds allowed to run all cells (default: %(default)s)')
    args = p.parse_args()
    from playwright.sync_api import sync_playwright
    t0, work, port, token = time.time(), Path(tempfile.mkdtemp(prefix='browser_check_')), free_port(), secrets.token_hex(16)
    (work/'nb').mkdir()
    shutil.copy(ROOT/NB, work/'nb'/Path(NB).name)
    cells = [ROOT/'malaria_nb/sample/cell_images'/c for c in ('Parasitized', 'Uninfected')]
    uploads = [sorted(c.glob('*.png'))[0] for c in cells]
    proc = start_lab(work, port, token)
    ok = False
    try:
        status = wait_lab(port, token, proc)
        log(t0, f'JupyterLab answers on 127.0.0.1:{port} (started {status.get("started")})')
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            log(t0, f'Chromium {browser.version} started headless')
            page = browser.new_page(viewport={'width': 1280, 'height': 1000})
            page.goto(f'http://127.0.0.1:{port}/lab/tree/{Path(NB).name}?token={token}')
            page.wait_for_function(f'() => {{ const s = ({STATE_JS})(); return s && s.kernel === "idle"; }}', timeout=120_000)
            log(t0, 'notebook open, kernel idle: running all cells')
            t_run = time.time()
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")   # do not wait here
            while True:
                s = page.evaluate(STATE_JS)
                if s['errors']: raise RuntimeError('a cell failed: ' + '; '.join(s['errors']))
                if s['done'] == s['n'] and s['kernel'] == 'idle': break
                if time.time() - t_run > args.timeout: raise TimeoutError(f'cells still running after {args.timeout} s: {s}')
                time.sleep(1)
            log(t0, f'all {s["n"]} code cells ran without error in {time.time() - t_run:.0f} s')
            reader = page.locator('.jp-OutputArea-output .widget-vbox').first
            reader.wait_for(timeout=30_000)
            reader.scroll_into_view_if_needed()
            if page.locator('text=Error displaying widget').count(): raise RuntimeError('JupyterLab could not display the widget')
            log(t0, 'reader widget displayed; summary: ' + reader.locator('b', has_text='No cells yet').first.inner_text())
            # the upload button opens a file input that is not in the page: answer the browser's file chooser, as a user would
            with page.expect_file_chooser() as chooser: reader.locator('.widget-upload').click()
            chooser.value.set_files([str(f) for f in uploads])
            log(t0, f'uploaded {", ".join(f.parent.name + "/" + f.name for f in uploads)} through the upload button\'s file chooser')
            page.wait_for_function("el => el.querySelectorAll('[data-cell]').length === 2", arg=reader.element_handle(), timeout=60_000)
            summary = reader.locator('b', has_text='cells read').first.inner_text()
            log(t0, f'the reader drew {reader.locator("[data-cell=ok]").count()} cards, '
                    f'{reader.locator("img[alt^=Grad-CAM]").count()} Grad-CAM heatmaps; summary: {summary}')
            for card in reader.locator('[data-cell=ok]').all(): print('    card:', ' | '.join(card.inner_text().split('\n')))
            if not summary.startswith('2 cells read'): raise RuntimeError(f'unexpected summary: {summary}')
            reader.screenshot(path=str(work/'shot.png'))
            out = ROOT/args.out
            out.parent.mkdir(parents=True, exist_ok=True)
            size = small_png(work/'shot.png', out)
            log(t0, f'screenshot of the widget saved to {args.out} ({size / 1000:.0f} kB)')
            browser.close()
        ok = True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)   # JupyterLab and the kernel it started, in their own process group
            try: proc.wait(20)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL)
        if not ok: print('JupyterLab log (last lines):\n' + ''.join((work/'lab.log').read_text().splitlines(True)[-20:]))
        shutil.rmtree(work, ignore_errors=True)
    log(t0, 'browser check passed')

if __name__ == '__main__': main()
