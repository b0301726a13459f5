"""Pin the install cell of every notebook to the release matching the package version (`malaria_nb.__version__`).

In Colab each notebook's first code cell installs the course package. It must install the release the notebook belongs to,
`git+https://github.com/malaria-nb/malaria_nb@v<version>`, never a moving branch, or a notebook would meet code newer
(or older) than itself.

Usage (from the repo root):
    python tools/pin_install.py          # rewrite the install cells that name another version
    python tools/pin_install.py --check  # only say which do not; exit 1 if any
Only the source of the install cell changes: every other cell, id and output stays as it is.
"""
import json, re, sys
from pathlib import Path

REPO = 'https://github.com/malaria-nb/malaria_nb'
INSTALL = re.compile(r"'malaria-nb @ git\+" + re.escape(REPO) + r"[^']*'")

def version(root=Path('.')) -> str:
    "The package version, read from malaria_nb/__init__.py without importing the package"
    m = re.search(r'__version__\s*=\s*["\']([^"\']+)["\']', (Path(root)/'malaria_nb'/'__init__.py').read_text())
    if m is None: sys.exit('malaria_nb/__init__.py: no __version__ found')
    return m.group(1)

def spec(v:str) -> str: return f"'malaria-nb @ git+{REPO}@v{v}'"

def install_cells(nb:dict) -> list:
    "The code cells of `nb` that install the package in Colab"
    return [c for c in nb['cells'] if c['cell_type'] == 'code' and INSTALL.search(''.join(c['source']))]

def main(check:bool=False, root=Path('.')) -> int:
    want, bad = spec(version(root)), []
    for fn in sorted((Path(root)/'nbs').glob('*.ipynb')):
        text = fn.read_text()
        nb = json.loads(text)
        cells = install_cells(nb)
        if not cells: continue
        stale = [c for c in cells if INSTALL.search(''.join(c['source'])).group(0) != want]
        if not stale: continue
        bad.append(fn.name)
        if check: continue
        for c in stale: c['source'] = INSTALL.sub(want, ''.join(c['source'])).splitlines(keepends=True)
        fn.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    verb = 'install another version than' if check else 'now install'
    if bad: print(f'{len(bad)} notebook(s) {verb} {want}: {", ".join(bad)}')
    else: print(f'every install cell installs {want}')
    return 1 if (check and bad) else 0

if __name__ == '__main__': sys.exit(main(check='--check' in sys.argv[1:]))
