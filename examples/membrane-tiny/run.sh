#!/usr/bin/env bash
# membrane-tiny: build, equilibrate, run the jFFS campaign, print the results (about 12.5 min
# on 2 cores). Run from anywhere; everything is written next to this script (runs/ and the
# store membrane-tiny.jffs/, both ignored by git).
set -euo pipefail
cd "$(dirname "$0")"
# Build and equilibrate once: running this script again after an interruption keeps the
# system and resumes the campaign where it stopped.
if [ ! -f runs/system/replicas/rep_003/equilibrated.data ]; then
    jffs build --config build.toml --out runs/system --overwrite
    jffs equilibrate runs/system --replicas 4 --fixed-ps 0.2 --moving-ps 1 --omp 2
fi
mpiexec -n 3 jffs run campaign.toml      # coordinator + 2 engine groups (2 cores)
jffs results membrane-tiny.jffs --json > runs/results.json
jffs results membrane-tiny.jffs
