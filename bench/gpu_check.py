"""The Python parts of `bench/gpu_check.sh`: the cached pipeline's data rate, the weights of a resumed run against an
uninterrupted one, and the summary table of a check's output folder.

    python bench/gpu_check.py data DATA SIZE BS JSON       # one pass over the cached training loader, no model
    python bench/gpu_check.py compare RUN_A RUN_B JSON     # the last checkpoints' weights of two runs, tensor by tensor
    python bench/gpu_check.py summarise OUT                # the summary table of the check in OUT (also OUT/summary.md)
"""
import csv, json, re, sys, time
from pathlib import Path


def data_rate(data, size:int, bs:int, out_json) -> dict:
    "Images/s that one pass over the cached pipeline's training loader delivers on this machine's device (first batch apart)"
    from malaria_nb.cache import malaria_dls
    dls = malaria_dls(data, size, bs)
    it = iter(dls.train); next(it)
    start, n = time.perf_counter(), 0
    for xb, _ in it: n += len(xb)
    if dls.device is not None and dls.device.type == 'cuda':
        import torch; torch.cuda.synchronize()
    res = dict(img_s=n / (time.perf_counter() - start), images=n, size=size, bs=bs, device=str(dls.device))
    Path(out_json).write_text(json.dumps(res, indent=2))
    return res


def compare_runs(run_a, run_b, out_json) -> dict:
    "Compare the model weights of the newest checkpoints of the runs in `run_a` and `run_b` (their `checkpoints/` folders)"
    import torch
    from malaria_nb.resume import latest_checkpoint
    (pa, a), (pb, b) = latest_checkpoint(Path(run_a)/'checkpoints'), latest_checkpoint(Path(run_b)/'checkpoints')
    wa, wb = a['model'], b['model']
    floats = [k for k in wa if wa[k].is_floating_point()]
    diffs = {k: (wa[k].double() - wb[k].double()).abs().max().item() for k in floats}
    res = dict(epoch_a=a['epoch'], epoch_b=b['epoch'], sessions_a=len(a['sessions']), sessions_b=len(b['sessions']),
               tensors=len(wa), identical=sum(torch.equal(wa[k], wb[k]) for k in wa),
               max_abs_diff=max(diffs.values(), default=0.), worst=max(diffs, key=diffs.get, default=None),
               max_abs_weight=max((wa[k].abs().max().item() for k in floats), default=0.))
    Path(out_json).write_text(json.dumps(res, indent=2))
    return res


def _json(f):
    try: return json.loads(Path(f).read_text())
    except (OSError, ValueError): return None

def _steps(out:Path) -> dict:
    "step -> (start, end, rc) from `times.tsv`, written by gpu_check.sh"
    res = {}
    try: lines = (out/'times.tsv').read_text().splitlines()
    except OSError: return res
    for line in lines:
        parts = line.split('\t')
        if len(parts) == 4: res[parts[0]] = (float(parts[1]), float(parts[2]), int(parts[3]))
    return res

def _util(out:Path, start:float, end:float) -> list:
    "GPU utilisation samples (percent) taken between `start` and `end` (unix seconds), from `smi.csv`: time,util,mem"
    try: rows = list(csv.reader((out/'smi.csv').read_text().splitlines()))
    except OSError: return []
    res = []
    for r in rows:
        try: t, u = float(r[0]), float(r[1])
        except (ValueError, IndexError): continue
        if start <= t <= end: res.append(u)
    return res

def _env(out:Path, key:str):
    "The value of `key` in `malaria-nb env`'s report"
    try: lines = (out/'env.log').read_text().splitlines()
    except OSError: return None
    return next((l[20:].strip() for l in lines if l.startswith(key) and l[len(key):20].strip() == ''), None)

def _epoch_secs(log) -> list:
    "Seconds of each epoch in fastai's table of a training log (its `mm:ss` time column)"
    try: text = Path(log).read_text(errors='replace')
    except OSError: return []
    return [int(m) * 60 + int(s) for m, s in re.findall(r'^\s*\d+\s+[-\d.e ]+?\s(\d\d):(\d\d)\s*$', text, re.M)]


def summary_rows(out) -> list:
    "(check, result) rows of the GPU check in folder `out`; a step that did not run or failed says so"
    out, steps = Path(out), _steps(Path(out))
    def status(step):
        if step not in steps: return 'not run'
        return 'ok' if steps[step][2] == 0 else f'failed (exit {steps[step][2]}, see {step}.log)'
    rows = [('GPU', _env(out, 'GPU') or 'unknown (env.log missing)'), ('precision', _env(out, 'precision') or '-'),
            ('probe batch size', _env(out, 'batch size') or '-')]
    if 'install' in steps: rows.append(('install', f"{status('install')}, {steps['install'][1] - steps['install'][0]:.0f} s"))
    m, train_ok = _json(out/'train'/'metrics.json'), status('train')
    if m and train_ok == 'ok':
        ep = _epoch_secs(out/'train.log')
        rate = f", {m['train_images'] / min(ep):,.0f} training img/s in its fastest epoch ({min(ep)} s, validation included)" if ep else ''
        rows.append(('train', f"ok: {m['arch']}, {m['size']} px, batch {m['bs']}, {m['epochs']} epochs, {m['train_images']:,} training cells, "
                              f"{m['seconds']:.0f} s in all{rate}; accuracy {m['accuracy']:.3f}"))
    else: rows.append(('train', train_ok))
    if 'train' in steps:
        u = _util(out, *steps['train'][:2])
        busy = [x for x in u if x > 0]
        if u: rows.append(('GPU utilisation, train', f"{len(u)} samples: mean {sum(u) / len(u):.0f}%; while in use ({len(busy)} s) mean "
                                                       f"{sum(busy) / max(1, len(busy)):.0f}%, {sum(x >= 90 for x in busy)} s at 90% or more"))
    b = _json(out/'bare.json')
    if b:
        txt = f"{b['img_s']:,.0f} img/s ({b['arch']}, {b['precision']}, reproducible=True)"
        if 'reproducible_cost' in b: txt += f"; reproducible=False is {b['reproducible_cost']:.2f}x as fast"
        rows.append(('bare model step', txt))
    else: rows.append(('bare model step', status('bare')))
    d = _json(out/'data.json')
    rows.append(('data alone (cached pipeline)', f"{d['img_s']:,.0f} img/s ({d['size']} px, batch {d['bs']}, {d['device']})" if d else status('data')))
    c = _json(out/'resume.json')
    if c:
        same = c['identical'] == c['tensors']
        rows.append(('kill after 1st checkpoint, resume', f"{'bit-identical' if same else 'not bit-identical'}: {c['identical']} of {c['tensors']} "
                     f"tensors equal, largest difference {c['max_abs_diff']:.3g}" + ('' if same else f" (in {c['worst']}; largest weight {c['max_abs_weight']:.3g})")
                     + f"; {c['sessions_b']} sessions"))
    else: rows.append(('kill after 1st checkpoint, resume', status('resume')))
    for nb in ('00', '07'): rows.append((f'nbdev-test {nb} under CUDA', status(f'nbdev_{nb}')))
    return rows


def summarise(out) -> str:
    "The summary table (Markdown) of the GPU check in folder `out`, also written to `out/summary.md`"
    rows = summary_rows(out)
    table = '| check | result |\n|---|---|\n' + '\n'.join(f'| {k} | {v} |' for k, v in rows) + '\n'
    (Path(out)/'summary.md').write_text(table)
    return table


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cmds = {'data': (4, lambda a: data_rate(a[0], int(a[1]), int(a[2]), a[3])), 'compare': (3, lambda a: compare_runs(*a)),
            'summarise': (1, lambda a: print(summarise(a[0]), end=''))}
    if not argv or argv[0] not in cmds or len(argv) - 1 != cmds[argv[0]][0]:
        print(f'gpu_check.py: give one of: {", ".join(cmds)}, with its arguments (see the top of bench/gpu_check.py)', file=sys.stderr); return 2
    if argv[0] == 'summarise' and not Path(argv[1]).is_dir():
        print(f'gpu_check.py: {argv[1]} is not a folder: give the output folder of bench/gpu_check.sh', file=sys.stderr); return 2
    res = cmds[argv[0]][1](argv[1:])
    if isinstance(res, dict): print(json.dumps(res))
    return 0


if __name__ == '__main__': sys.exit(main())
