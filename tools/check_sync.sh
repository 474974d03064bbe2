#!/usr/bin/env bash
# Fails when nbdev-export or nbdev-clean would change anything: the notebooks in nbs/ are the
# source of mlops_nb/, and notebooks are committed clean. Works on a dirty tree too (it
# compares the files before and after, not against git).
set -euo pipefail
cd "$(dirname "$0")/.."
snap() { find nbs mlops_nb -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum; }
before=$(snap)
nbdev-export
nbdev-clean
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "nbdev sync check FAILED: nbdev-export/nbdev-clean changed these files:" >&2
  diff <(echo "$before") <(echo "$after") | grep '^>' | awk '{print "  " $3}' >&2
  echo "Edit the notebooks in nbs/, run nbdev-export and nbdev-clean, and commit both." >&2
  exit 1
fi
echo "nbdev sync check: notebooks and library agree"
