#!/usr/bin/env bash
# charged-pore: how much does a ring of three COO- groups at the pore entrance slow the
# chloride? Builds the carboxylated pore and the neutral pore of ../membrane-tiny (same box,
# salt and pressure), equilibrates four replicas of each, runs one chloride campaign on each
# (same interfaces) and prints both rates and tau_charged / tau_neutral with 95 % CIs.
# Everything is written next to this script (runs/, cl_*.jffs/; ignored by git); a second
# ./run.sh skips every finished step and resumes the campaigns. Timings: README.md.
set -euo pipefail
cd "$(dirname "$0")"
for sys in charged neutral; do
    config=build.toml
    [ "$sys" = neutral ] && config=../membrane-tiny/build.toml
    if [ ! -f "runs/$sys/metadata.json" ]; then
        jffs build --config "$config" --out "runs/$sys" --overwrite
    fi
    for i in 0 1 2 3; do
        if [ ! -f "runs/$sys/replicas/rep_00$i/replica.json" ]; then
            jffs equilibrate "runs/$sys" --first "$i" --replicas 1 --fixed-ps 0.2 --moving-ps 1
        fi
    done
done
for camp in cl neutral; do
    mpiexec -n 3 jffs run "campaign_$camp.toml"      # coordinator + 2 engine groups (2 cores)
done
for store in cl_charged cl_neutral; do
    jffs results "$store.jffs" --json > "runs/results_$store.json"
    jffs results "$store.jffs"
done
jffs selectivity cl_charged.jffs cl_neutral.jffs --reference 2 --json > runs/selectivity.json
jffs selectivity cl_charged.jffs cl_neutral.jffs --reference 2
