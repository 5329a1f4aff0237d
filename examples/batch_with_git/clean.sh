#!/bin/sh
# Remove what run_example.sh made: sh clean.sh
set -eu
cd "$(dirname "$0")"
rm -rf calc calc.bak* calc.simulate
if [ "$(git rev-parse --show-toplevel 2>/dev/null || true)" = "$(pwd)" ]; then
    rm -rf .git .gitignore
fi
