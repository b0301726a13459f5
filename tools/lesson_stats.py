"""Where each numbered lesson reaches its subject, and how much prose it has (issue 33's measures).

For every `nbs/NN_*.ipynb`: the number of the first code cell (counting every code cell, `#| default_exp` and the
Colab install cell included) that does what the lesson is about (00 `env_report()`, 01 a download, 02 DataLoaders,
09 the command; the others, training or fetching their data), the first that trains (`fit`, `fine_tune`, `lr_find`,
a recipe or command run), and the words of its markdown cells.

Usage: python tools/lesson_stats.py [nbs]
"""
import json, re, sys
from pathlib import Path

TRAIN = re.compile(r"\.fit_one_cycle\(|\.fine_tune\(|\.lr_find\(|train_resumable\(|run_cli\('train'|\.fit\(|fit_bit\(|fit_resumable\(")
DATA = re.compile(r"course_data\(profile, download=True\)")
SUBJECT = {'00': re.compile(r"env_report\(\)"), '01': re.compile(r"download_malaria\(|fetch\("),
           '02': re.compile(r"show_batch\(|malaria_dls\("), '09': re.compile(r"run_cli\(")}

def stats(fn:Path) -> dict:
    "First subject and training code cells of the notebook `fn`, and its prose words"
    nb, n, subject, train, words = json.loads(fn.read_text()), 0, None, None, 0
    for c in nb['cells']:
        s = ''.join(c['source'])
        if c['cell_type'] == 'markdown': words += len(re.sub(r'[`*#|>\-]', ' ', s).split()); continue
        n += 1
        code = re.sub(r'(?m)^def .*$', '', s)   # a definition's signature is not a call
        if subject is None and (SUBJECT[fn.name[:2]] if fn.name[:2] in SUBJECT else re.compile(f'{TRAIN.pattern}|{DATA.pattern}')).search(code): subject = n
        if train is None and TRAIN.search(code): train = n
    return dict(subject=subject, train=train, words=words)

if __name__ == '__main__':
    for f in sorted(Path(sys.argv[1] if len(sys.argv) > 1 else 'nbs').glob('[0-9][0-9]_*.ipynb')):
        s = stats(f)
        print(f"{f.name:26} subject at code cell {s['subject']!s:>4}, first training {s['train']!s:>4}, prose words {s['words']:,}")
