#!/usr/bin/env bash
# ansible-test sanity and units on the collection, without docker.
#
# ansible-test wants the collection at .../ansible_collections/netlmm/pmipv6, so the
# files git knows about are copied into a temporary tree of that shape first: the
# tracked files plus the untracked ones that are not ignored (what the next commit
# would hold), or with --committed only the tracked ones. .venv, .ansible, caches
# and artifacts are ignored by .gitignore and so never copied.
#
#   scripts/ansible-test.sh                    # sanity, then units
#   scripts/ansible-test.sh sanity [ARGS...]   # e.g. sanity --test pylint
#   scripts/ansible-test.sh units [ARGS...]    # e.g. units tests/unit/plugins/filter
#   scripts/ansible-test.sh --committed ...    # only what git tracks
#   KEEP=1 scripts/ansible-test.sh ...         # keep the temporary tree (path printed)
#
# Both commands run with --python 3.11 --venv: ansible-test builds its own virtual
# environments in the temporary tree (packages from PyPI through the machine's pip
# configuration) so sanity tools such as pylint and voluptuous are the versions
# ansible-core pins. About two minutes in all. Run as root for the unit tests that
# configure a veth pair in a network namespace (they skip otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ansible_test=${ANSIBLE_TEST:-$root/.venv/bin/ansible-test}
python_version=${PYTHON_VERSION:-3.11}

committed=0
if [ "${1:-}" = "--committed" ]; then
    committed=1
    shift
fi
what=${1:-all}
[ $# -gt 0 ] && shift
case "$what" in
    all | sanity | units) ;;
    *)
        echo "usage: $0 [--committed] [all|sanity|units] [ansible-test args...]" >&2
        exit 2
        ;;
esac

# ansible-test seeds each virtual environment with pip from a get-pip.py it downloads
# from ci-files.testing.ansible.com, which these machines cannot reach (PyPI they
# can). Its error message says the script may be saved in its cache by hand; this
# stand-in does the same job with the interpreter's own ensurepip, then lets that
# pip install what ansible-test asked for (the pinned pip) from PyPI.
pip_version=$("$root/.venv/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; from ansible_test._internal.host_configs import NativePythonConfig as N; print(g(N(version="3"))["pip"])' 2>/dev/null || echo 24.2)
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$get_pip" ]; then
    mkdir -p "$(dirname "$get_pip")"
    cat >"$get_pip" <<'PY'
"""Offline stand-in for get-pip.py, written by netlmm.pmipv6 scripts/ansible-test.sh.

Bootstraps pip with ensurepip, then runs ``pip install --upgrade ARGS`` like get-pip.py
(its own --no-setuptools/--no-wheel options dropped: ensurepip installs neither).
ensurepip hides pip's configuration (PIP_CONFIG_FILE=/dev/null) in this process, so
the second pip runs in a child with the environment as it was: the site's pip.conf
(certificate bundle, local indexes) applies to it.
"""
import ensurepip
import os
import subprocess
import sys

environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
command = [sys.executable, "-m", "pip", "install", "--upgrade"] + args
sys.exit(subprocess.call(command, env=environment))
PY
fi

tmp=$(mktemp -d /tmp/pmipv6-ansible-test.XXXXXX)
if [ -n "${KEEP:-}" ]; then
    echo "ansible-test tree kept in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
dest=$tmp/ansible_collections/netlmm/pmipv6
mkdir -p "$dest"

if ((committed)); then
    list=(git ls-files -z)
else
    list=(git ls-files -z --cached --others --exclude-standard)
fi
# Files deleted in the working tree are still in git's index: copy only what exists
# (symlinks are copied as symlinks, so a dangling one is reported by sanity).
"${list[@]}" | while IFS= read -r -d '' path; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        printf '%s\0' "$path"
    fi
done | tar --null --no-recursion -T - -cf - | tar -xf - -C "$dest"

# The unit tests of pmip_access_link use pyroute2 (the netns test); ansible-test
# installs a collection's test requirements from tests/unit/requirements.txt. Until
# the repository has that file, the temporary tree gets one.
if [ ! -e "$dest/tests/unit/requirements.txt" ]; then
    mkdir -p "$dest/tests/unit"
    printf '%s\n' 'pyroute2' >"$dest/tests/unit/requirements.txt"
fi

cd "$dest"
rc=0
if [ "$what" = all ] || [ "$what" = sanity ]; then
    echo "== ansible-test sanity (python $python_version, venv)"
    "$ansible_test" sanity --python "$python_version" --venv --color no "$@" || rc=$?
fi
if [ "$what" = all ] || [ "$what" = units ]; then
    echo "== ansible-test units (python $python_version, venv)"
    "$ansible_test" units --python "$python_version" --venv --color no "$@" || rc=$?
fi
exit "$rc"
