#!/usr/bin/env bash
# Run this checkout's tests/security against an older commit, by default ef92317 (main before the fixes of issue
# #14 and the audit trail of #12), to see each regression test fail there. Test plumbing only is changed in the
# old tree (before_fixes_plumbing.patch: the shared server/browser fixtures and test keyring tests/security
# needs); its product code is left as it was.
#
#   tests/security/run_against.sh [COMMIT] [tests/security/test_x.py ...]   (default: every module, one at a time)
#
# VOXANNE_E2E_PORT (default 3461) is the old tree's production server port: keep it off 3317, where another
# checkout's e2e server may already listen (its answers would be taken for the old code's).
set -euo pipefail
here=$(git rev-parse --show-toplevel)
commit=${1:-ef92317}
shift || true
tree=${BEFORE_TREE:-/tmp/voxanne-before-$commit}
port=${VOXANNE_E2E_PORT:-3461}
if [ ! -d "$tree" ]; then
  git -C "$here" worktree add --detach "$tree" "$commit"
  (cd "$tree" && ./voxanne test --collect-only -q >/dev/null)
  # Test-only dependencies tests/security uses that the old lock file lacks.
  "$tree/.tools/bin/uv" pip install --python "$tree/.venv/bin/python" websockets==17.4 schemathesis==4.32.5
  git -C "$tree" apply "$here/tests/security/before_fixes_plumbing.patch"
fi
rm -rf "$tree/tests/security"
cp -r "$here/tests/security" "$tree/tests/security"
if [ $# -gt 0 ]; then modules=("$@"); else mapfile -t modules < <(cd "$here" && ls tests/security/test_*.py); fi
cd "$tree"
for module in "${modules[@]}"; do  # one module per run: the browser ones share the tree's one .web build
  echo "== $module"
  VOXANNE_E2E_PORT=$port .venv/bin/python -m pytest -q -p no:cacheprovider -rfEp --tb=line "$module" || true
done
echo "Done. Remove the old tree with: git worktree remove --force $tree"
