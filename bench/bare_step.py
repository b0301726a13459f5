"""The bare training step: a model, its optimizer and loss on random tensors already on the device, in a given precision.

What training could reach if data never made it wait. Used by `train_speed.py` (b) and `gpu_check.sh`; on its own it also
measures what `set_seed(..., reproducible=True)` costs, side by side: it sets cuDNN's `deterministic` flag and its
`benchmark` flag off (torch's default already; fastai does not turn it on), so on a GPU it restricts the convolution
kernels cuDNN may choose; on a CPU both flags do nothing.

    PYTHONPATH=$PWD python bench/bare_step.py [--arch resnet34] [--size 128] [--bs 64] [--precision auto] [--reproducible both] [--json F]
"""
import argparse, json, sys, time
from pathlib import Path

import torch


def precision_dtype(precision:str):
    "The autocast dtype of 'fp16' or 'bf16'; None for 'fp32'"
    if precision not in ('fp32', 'fp16', 'bf16'): raise ValueError(f'precision={precision!r}: choose fp32, fp16 or bf16')
    return {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)


def bare_rate(model, opt, loss_func, bs:int, size:int, steps:int, device, precision:str='fp32', n_out:int=2, warmup:int=3) -> dict:
    "Training images/s of `model` with `opt` (`step` and `zero_grad`) and `loss_func` on random tensors on `device`, in `precision`"
    device, dtype = torch.device(device), precision_dtype(precision)
    fmt = torch.channels_last if dtype is not None else torch.contiguous_format   # as the course's mixed precision trains
    model = model.to(device, memory_format=fmt).train()
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    x = torch.randn(bs, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, n_out, (bs,), device=device)
    def sync():
        if device.type == 'cuda': torch.cuda.synchronize(device)
    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_func(model(x), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad()
    for _ in range(warmup): step()
    sync(); start = time.perf_counter()
    for _ in range(steps): step()
    sync(); secs = time.perf_counter() - start
    return dict(img_s=steps * bs / secs, steps=steps, bs=bs, size=size, device=str(device), precision=precision)


def course_model(arch:str='resnet34', n_out:int=2):
    "The course's model (fastai's body and head, from scratch), Adam as fastai sets it up, and the loss"
    from fastai.vision.all import Adam, CrossEntropyLossFlat, create_vision_model, params
    from malaria_nb.train import get_arch
    model = create_vision_model(get_arch(arch), n_out, pretrained=False)
    return model, Adam(params(model), lr=1e-3), CrossEntropyLossFlat()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--arch', default='resnet34')
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--precision', default='auto', help="fp32, fp16, bf16, or auto: this GPU's best (fp32 on the CPU)")
    p.add_argument('--reproducible', choices=('on', 'off', 'both'), default='on',
                   help="set_seed(42, reproducible=...): 'both' measures each, alternating, and their ratio")
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    for k in ('size', 'bs', 'steps'):
        if getattr(a, k) < 1: p.exit(2, f'bare_step.py: --{k} must be at least 1\n')
    from fastai.vision.all import set_seed, default_device
    from malaria_nb.environment import precision_for
    device = default_device()
    cap = torch.cuda.get_device_capability(0) if device.type == 'cuda' else None
    precision = precision_for(cap) if a.precision == 'auto' else a.precision
    try: precision_dtype(precision)
    except ValueError as e: p.exit(2, f'bare_step.py: {e}\n')
    res = dict(arch=a.arch, device=torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU', precision=precision, runs=[])
    modes = {'on': [True], 'off': [False], 'both': [False, True, False, True]}[a.reproducible]
    for rep in modes:
        set_seed(42, reproducible=rep)
        if not rep: torch.backends.cudnn.deterministic = False   # back to torch's defaults (set_seed does not undo it; benchmark stays off)
        model, opt, loss = course_model(a.arch)
        r = bare_rate(model, opt, loss, a.bs, a.size, a.steps, device, precision)
        res['runs'].append(dict(reproducible=rep, img_s=r['img_s']))
        print(f"{res['device']}, {a.arch}, {a.size} px, batch {a.bs}, {precision}, reproducible={rep}: {r['img_s']:,.0f} img/s")
    rate = lambda rep: max(r['img_s'] for r in res['runs'] if r['reproducible'] == rep)   # the best of each: the least disturbed
    res['img_s'] = rate(modes[-1])
    if a.reproducible == 'both':
        res['reproducible_cost'] = rate(False) / rate(True)
        print(f"reproducible=True costs {res['reproducible_cost']:.2f}x (img/s off over on, best of {len(modes) // 2} each)")
    if a.json: Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == '__main__': sys.exit(main())
