"""Validate the course's training recipe on real data: ResNet18 from scratch at 64 px on the CPU.

Trains on the NIH development subset (`../shared/data/nih-malaria-dev/cell_images`, 9,130 cells from 66 slides)
with the patient-level split (slides never shared between train and valid), then reports accuracy, sensitivity,
specificity and ROC-AUC on the validation slides and the training throughput (images per second, training
phase only, measured by a callback). The recipe is the course's one recipe, `malaria_nb.recipe.train_resumable`
(what `malaria-nb train` runs), with a throughput callback added through its `cbs`.

    PYTHONPATH=$PWD python bench/validate_resnet18.py [--data DIR] [--epochs 10] [--lr 3e-3] [--pipeline cached] [--out runs/validate]
"""
import argparse, datetime, json, os, platform, sys, time
from pathlib import Path

import torch, fastai, torchvision
from fastai.vision.all import Callback

from malaria_nb.data import slide_of
from malaria_nb.recipe import RUN_SETTINGS, train_resumable
from malaria_nb.files import save_json

ROOT = Path(__file__).resolve().parents[1]


class TrainThroughput(Callback):
    "Seconds spent and images seen in the training phase of each epoch"
    order = 100
    def before_fit(self): self.epochs = []
    def before_train(self): self.t0, self.n = time.perf_counter(), 0
    def after_batch(self):
        if self.training: self.n += len(self.yb[0])
    def after_train(self): self.epochs.append((time.perf_counter() - self.t0, self.n))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=str(ROOT.parent/'shared/data/nih-malaria-dev/cell_images'))
    p.add_argument('--arch', default=RUN_SETTINGS['arch'])
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--size', type=int, default=RUN_SETTINGS['size'])
    p.add_argument('--bs', type=int, default=RUN_SETTINGS['bs'])
    p.add_argument('--lr', type=float, default=RUN_SETTINGS['lr'])
    p.add_argument('--pipeline', default=RUN_SETTINGS['pipeline'], choices=['cached', 'plain'])
    p.add_argument('--num-workers', type=int, default=2)
    p.add_argument('--seed', type=int, default=RUN_SETTINGS['seed'])
    p.add_argument('--out', default=str(ROOT/'runs/validate_resnet18'))
    a = p.parse_args(argv)

    out, thr = Path(a.out), TrainThroughput()
    start = time.time()
    learn, m = train_resumable(out, overwrite=True, data=a.data, arch=a.arch, epochs=a.epochs, size=a.size, bs=a.bs, lr=a.lr,
                               seed=a.seed, pipeline=a.pipeline, num_workers=a.num_workers, cbs=thr)
    wall = time.time() - start
    dls = learn.dls
    secs, n = sum(s for s, _ in thr.epochs), sum(k for _, k in thr.epochs)
    res = dict({k: m[k] for k in ('n', 'accuracy', 'sensitivity', 'specificity', 'roc_auc')}, arch=a.arch, pretrained=False,
               epochs=a.epochs, size=a.size, bs=a.bs, lr=a.lr, pipeline=a.pipeline, num_workers=a.num_workers, best_epoch=m['best_epoch'],
               valid_accuracy_by_epoch=[float(v[3]) for v in learn.recorder.values],
               train_images=len(dls.train_ds), valid_images=len(dls.valid_ds),
               train_slides=len({slide_of(f) for f in dls.train_ds.items}),
               valid_slides=len({slide_of(f) for f in dls.valid_ds.items}),
               train_images_per_s=round(n / secs, 1), seconds_total=round(wall, 1), seconds_per_epoch=round(wall / a.epochs, 1),
               data=str(a.data), date=datetime.date.today().isoformat(), python=platform.python_version(),
               torch=torch.__version__, torchvision=torchvision.__version__, fastai=fastai.__version__,
               cpu=platform.processor() or platform.machine(), cpu_cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
               command=' '.join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]))
    save_json(res, out/'validation.json')
    print(json.dumps(res, indent=2))
    return 0


if __name__ == '__main__': sys.exit(main())
