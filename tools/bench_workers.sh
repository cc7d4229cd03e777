#!/bin/bash
# images/s of `mtface predict` at 1 and 2 workers, interleaved, 3 rounds (docs/benchmarks.md).
# Usage: tools/bench_workers.sh PHOTO_FOLDER [ROUNDS]   (run from the repository root)
set -u
folder=$1
rounds=${2:-3}
count=$(find "$folder" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)
out=$(mktemp -d)
for round in $(seq "$rounds"); do
  for w in 1 2; do
    rm -rf "$out/o$w"
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    .venv/bin/mtface predict "$folder" --out "$out/o$w" --workers "$w" 2>/dev/null >/dev/null
    rc=$?
    end=$(date +%s.%N)
    python3 -c "w=$end-$start; print(f'photos $count round $round workers $w rc $rc load1 $load wall {w:.2f} s images/s {$count / w:.2f}')"
  done
done
rm -rf "$out"
