#!/bin/sh
# The whole batch workflow on this machine: sh run_example.sh
# git repo -> prepare jobs (input.py) -> run them (calc/run_local.sh) -> collect results.
# On a cluster, run calc/run_cluster.sh there instead (psweep-push cluster / psweep-pull cluster).
set -eu
cd "$(dirname "$0")"
if [ "$(git rev-parse --show-toplevel 2>/dev/null || true)" != "$(pwd)" ]; then
    git init -q
    if ! git var GIT_COMMITTER_IDENT >/dev/null 2>&1; then
        echo "git has no identity: setting an example identity in this repository only"
        git config user.name "psweep example"
        git config user.email "example@example.org"
    fi
    printf 'calc.bak*\ncalc.simulate\n' > .gitignore
    git add .
    git commit -q -m "batch example: templates and driver"
fi
python3 input.py
sh calc/run_local.sh
python3 -c 'import psweep as ps; ps.df_print(ps.collect_batch(), cols=["amplitude", "damping", "energy", "_batch_status"])'
git log --oneline
