#!/usr/bin/env bash
# The GPU check of malaria_nb: what the course does on one NVIDIA GPU, in one output folder, with one summary table.
#
#   bench/gpu_check.sh [--data DIR|download|sample] [--out DIR] [--no-install]
#
# From the repository root of a fresh machine with one NVIDIA GPU and PyPI reachable (about 8 minutes, install included):
#   install      pip install -e .[dev] (skipped with --no-install)
#   env          `malaria-nb env --arch resnet34 --size 128`: the GPU, CUDA, the precision and the batch-size probe
#   download     `malaria-nb download` of the NIH cells (353 MB; --data download, the default), or your folder, or the sample
#   train        `malaria-nb train` ResNet34, 128 px, 2 epochs, in the GPU's mixed precision, with `nvidia-smi`'s
#                utilisation sampled every second (smi.csv): is the GPU busy, or waiting for data?
#   bare         the bare model step of the same model and batch on the GPU in the same precision (bench/bare_step.py),
#                with set_seed's reproducible=True and without: what cuDNN's deterministic mode costs
#   data         the cached pipeline's data rate alone (one pass over the training loader, no model)
#   resume       the same run killed (SIGKILL) after its first checkpoint and resumed in a new process; its weights
#                compared with the uninterrupted run's, tensor by tensor
#   nbdev_00/07  nbdev-test of notebooks 00 (with 00a) and 07 under CUDA
# Each step writes OUT/STEP.log; times.tsv holds each step's start, end and exit status; summary.md the table.
set -u
PY=${PYTHON:-python3}
usage="usage: bench/gpu_check.sh [--data DIR|download|sample] [--out DIR] [--no-install]"
die() { echo "gpu_check.sh: $*" >&2; exit 2; }
DATA=download OUT=gpu_check INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --data) [ $# -ge 2 ] || die "--data needs a value: a folder holding Parasitized/ and Uninfected/, 'download' or 'sample'"; DATA=$2; shift 2;;
    --out) [ $# -ge 2 ] || die "--out needs a folder for the check's output"; OUT=$2; shift 2;;
    --no-install) INSTALL=0; shift;;
    -h|--help) echo "$usage"; exit 0;;
    *) die "unknown argument '$1'; $usage";;
  esac
done
case "$DATA" in
  download|sample) ;;
  *) [ -d "$DATA" ] || die "--data $DATA is not a folder: give the folder holding Parasitized/ and Uninfected/ (or cell_images/), 'download' or 'sample'"
     DATA=$(cd "$DATA" && pwd);;
esac
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT;; esac
[ -n "$(ls -A "$OUT" 2>/dev/null)" ] && die "$OUT is not empty (an earlier check?): give a new --out folder"
command -v nvidia-smi >/dev/null 2>&1 || die "no NVIDIA GPU here (nvidia-smi not found): this check needs one; on a CPU, bench/train_speed.py measures speed"
cd "$(dirname "$0")/.." || die "cannot find the repository root above $0"
[ -f pyproject.toml ] || die "$(pwd) is not the malaria_nb repository: run bench/gpu_check.sh from a checkout"
mkdir -p "$OUT" || die "cannot create $OUT"

step() {  # step NAME COMMAND...: run it into OUT/NAME.log, record NAME, start, end, exit status in OUT/times.tsv
  local name=$1 t0 rc; shift; t0=$(date +%s.%N)
  echo "== $name"
  "$@" > "$OUT/$name.log" 2>&1; rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$t0" "$(date +%s.%N)" "$rc" >> "$OUT/times.tsv"
  [ $rc -eq 0 ] || echo "   failed (exit $rc): see $OUT/$name.log"
  return $rc
}

if [ $INSTALL = 1 ]; then step install $PY -m pip install -e ".[dev]"; fi
export PATH="$($PY -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$($PY -m site --user-base)/bin:$PATH"
MNB="$PY -m malaria_nb.cli"
( while :; do
    printf '%s,%s\n' "$(date +%s.%N)" "$(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits | head -1 | tr -d ' ')"
    sleep 1
  done ) > "$OUT/smi.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT

step env $MNB env --arch resnet34 --size 128
case "$DATA" in
  download) step download $MNB download --dest "$OUT/data" --quiet && DATA=$OUT/data/train;;
  sample) DATA=$($PY -c 'from malaria_nb.data import sample_path; print(sample_path())');;
esac
TRAIN=(--data "$DATA" --arch resnet34 --size 128 --epochs 2)
step train $MNB train "${TRAIN[@]}" --out "$OUT/train"
step bare $PY bench/bare_step.py --arch resnet34 --size 128 --bs 64 --precision auto --reproducible both --json "$OUT/bare.json"
step data $PY bench/gpu_check.py data "$DATA" 128 64 "$OUT/data.json"

resume_check() {  # the run of `train`, killed after its first checkpoint, resumed in a new process, compared
  local ck=$OUT/killed/checkpoints pid
  $MNB train "${TRAIN[@]}" --out "$OUT/killed" & pid=$!
  while kill -0 $pid 2>/dev/null && [ ! -e "$ck/resume_000.pt" ]; do sleep 0.2; done
  if [ ! -e "$ck/resume_000.pt" ]; then wait $pid; echo "the run ended without a first checkpoint"; return 1; fi
  kill -9 $pid; wait $pid 2>/dev/null
  if [ -e "$ck/resume_001.pt" ]; then echo "killed too late: the run had written its last checkpoint"; return 1; fi
  echo "killed (SIGKILL) after its first checkpoint"
  $MNB train --resume "$OUT/killed" || return 1
  $PY bench/gpu_check.py compare "$OUT/train" "$OUT/killed" "$OUT/resume.json"
}
step resume resume_check
step nbdev_00 nbdev-test --file-re '^00' nbs   # 00 and its tests, 00a
step nbdev_07 nbdev-test nbs/07_resume.ipynb

$PY bench/gpu_check.py summarise "$OUT"
echo "everything is in $OUT"
! grep -qv $'\t0$' "$OUT/times.tsv"
