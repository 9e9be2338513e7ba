"""A fresh working copy per run: the submission's files, its inputs, its interpreter.

Runs never share a directory: each gets a new temporary one holding the copy (``work``),
the inputs (``data``), a ``bin`` whose ``python`` is the submission's interpreter, the
shim, the Redis data and the sockets, so no run can touch another's files.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from faults.grade import shim
from faults.grade.options import GradeError, GradeOptions, render

IGNORED = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "*.pyc", ".faults")
CACHE_ENV = "FAULTS_GRADE_CACHE"


def copy_submission(submission: Path, run_dir: Path) -> Path:
    work = run_dir / "work"
    shutil.copytree(submission, work, ignore=IGNORED, symlinks=True)
    return work


def write_inputs(run_dir: Path, files: tuple[str, ...], kind: str) -> list[Path]:
    """The example's files as ``data/f1.txt``... (or CSV files with a ``text`` column,
    one row per line)."""
    data = run_dir / "data"
    data.mkdir()
    paths = []
    for i, text in enumerate(files, start=1):
        path = data / f"f{i}.{'csv' if kind == 'csv' else 'txt'}"
        if kind == "csv":
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["id", "text"])
                writer.writerows([n, line] for n, line in enumerate(text.split("\n")))
        else:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def render_configs(work: Path, options: GradeOptions, values: dict[str, str]) -> None:
    for target, template in options.configs:
        text = render(template, values, f"--config {target}")
        (work / target).parent.mkdir(parents=True, exist_ok=True)
        (work / target).write_text(text, encoding="utf-8")


def install_shim(run_dir: Path) -> Path:
    folder = run_dir / "shim"
    folder.mkdir()
    shutil.copyfile(shim.__file__, folder / "sitecustomize.py")
    return folder


def bin_dir(run_dir: Path, python: str) -> Path:
    """A folder to put first on PATH, where ``python`` and ``python3`` are the
    submission's interpreter (so ``--cmd "python client.py"`` means that one)."""
    folder = run_dir / "bin"
    folder.mkdir()
    for name in ("python", "python3"):  # a script, not a link: a venv's python must be
        script = folder / name  # started by its own path to find its packages
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n')
        script.chmod(0o755)
    return folder


def interpreter(submission: Path, options: GradeOptions) -> str:
    """The submission's Python: ``--python`` or the grader's, in a virtualenv with its
    ``requirements.txt`` when it has one (kept per requirements hash: a folder of
    submissions with the same needs installs them once)."""
    base = options.python or sys.executable
    if options.python and shutil.which(base) is None:
        raise GradeError(f"--python {base!r}: no such interpreter; give a path to a Python")
    base = shutil.which(base) or base
    requirements = submission / "requirements.txt"
    if not requirements.is_file():
        return base
    text = requirements.read_bytes()
    key = hashlib.sha256(text + base.encode()).hexdigest()[:16]
    cache = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "faults-grade"))
    venv = cache / "venvs" / key
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel graders build each venv once
        if not (venv / "ok").exists():
            _build_venv(base, venv, requirements)
    return str(venv / "bin" / "python")


def _build_venv(base: str, venv: Path, requirements: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    for args in (
        [base, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
    ):
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise GradeError(f"cannot install {requirements}: {done.stderr.strip()[-400:]}")
    (venv / "ok").write_text("ok\n")
