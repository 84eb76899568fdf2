#!/usr/bin/env bash
# membrane-tiny: build, equilibrate, run the jFFS campaign, print the results (about 12.5 min
# on 2 cores). Run from anywhere; everything is written next to this script (runs/ and the
# store membrane-tiny.jffs/, both ignored by git). Running it again after an interruption
# skips every finished step: the build, each equilibrated replica, and the campaign's
# committed work (it resumes where it stopped).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f runs/system/metadata.json ]; then
    jffs build --config build.toml --out runs/system --overwrite
fi
# Plain LAMMPS styles (one core per process): on a shared 2-core machine OpenMP threads wait for
# each other; add --omp 2 on an otherwise idle machine if you like.
# A replica is finished when its replica.json exists: it is written after equilibrated.data
# (which an interruption can leave half-written) and before the replica is listed in
# runs/system/metadata.json, so an interrupted replica is redone, never skipped.
for i in 0 1 2 3; do
    if [ ! -f "runs/system/replicas/rep_00$i/replica.json" ]; then
        jffs equilibrate runs/system --first "$i" --replicas 1 --fixed-ps 0.2 --moving-ps 1
    fi
done
mpiexec -n 3 jffs run campaign.toml      # coordinator + 2 engine groups (2 cores)
jffs results membrane-tiny.jffs --json > runs/results.json
jffs results membrane-tiny.jffs
