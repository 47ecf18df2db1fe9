"""Load the implementation under test: a folder laid out like `exercises/`.

The folder becomes a package (``solutions`` for the reference, ``submission`` for anything else),
so that its modules can import each other with ``from .sampling import sample_next_token``.
Each module is imported lazily, the first time a test asks for it, so a syntax error in one
exercise costs that exercise only.
"""
from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.util
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path

from . import KitError
from .points import EXERCISES

REPO = Path(__file__).resolve().parent.parent
EXERCISES_DIR = REPO / "exercises"
SOLUTIONS_DIR = REPO / "solutions"
TESTS_DIR = REPO / "tests"


def has_reference() -> bool:
    """Whether this copy of the kit holds the reference solutions: solutions/ with the exercises'
    modules (a student release has none; an empty or half-copied solutions/ folder is not one)."""
    return all((SOLUTIONS_DIR / f"{name}.py").is_file() for name in EXERCISES)


IMPORTS_REFERENCE = "{name} imports the reference solutions: write your own code (importing solutions scores zero)"


class SubmissionImportError(Exception):
    """The submission's module could not be imported (one line, for the student)."""


def resolve_folder(path: str | Path | None) -> Path:
    folder = Path(path).expanduser().resolve() if path else EXERCISES_DIR
    if folder.is_file():
        raise KitError(f"submission '{path}' is a file; pass the folder that holds your exercise files "
                       f"(e.g. {Path(path).parent or '.'})")
    if not folder.is_dir():
        raise KitError(f"submission folder '{path}' does not exist; pass a folder laid out like exercises/")
    inner = folder / "exercises"
    if (folder / "grader").is_dir() and (folder / "tests").is_dir():
        raise KitError(f"'{path}' is a copy of the kit, not a submission; pass its exercises/ folder "
                       f"({Path(path) / 'exercises'})")
    if not any(folder.glob("*.py")):
        nested = f" (did you mean {Path(path) / 'exercises'}?)" if any(inner.glob("*.py")) else ""
        raise KitError(f"submission folder '{path}' has no .py files{nested}; pass a folder laid out like exercises/")
    return folder


def _package(folder: Path) -> str:
    """Register `folder` as a package and return its import name."""
    name = "solutions" if folder == SOLUTIONS_DIR else "submission"
    existing = sys.modules.get(name)
    if existing is not None and list(getattr(existing, "__path__", [])) == [str(folder)]:
        return name
    if existing is not None:
        raise KitError(f"a different '{name}' package is already imported in this process")
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    package.__file__ = str(folder / "__init__.py")
    package.__package__ = name
    sys.modules[name] = package
    if name == "submission" and folder != EXERCISES_DIR:
        _Alias.install("exercises", name)
    return name


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`exercises` and `exercises.<module>` are the submission's own package and modules.

    In their own copy of the kit, students may import between their modules in any form:
    `from . import sampling`, `from exercises import sampling`, `import exercises.sampling`,
    `from exercises.sampling import sample_next_token`. Graded from another folder (batch grading,
    Gradescope, `--submission PATH`), the absolute forms would find the kit's untouched stubs; with
    this alias every form reaches the submission's own code (the same module objects).
    """

    def __init__(self, alias: str, target: str):
        self.alias, self.target = alias, target

    @classmethod
    def install(cls, alias: str, target: str) -> None:
        if any(isinstance(f, cls) and f.alias == alias for f in sys.meta_path):
            return
        for loaded in [m for m in sys.modules if m == alias or m.startswith(alias + ".")]:
            del sys.modules[loaded]  # the kit's own stubs, if anything imported them
        sys.meta_path.insert(0, cls(alias, target))

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.alias or fullname.startswith(self.alias + "."):
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname == self.alias)
        return None

    def create_module(self, spec):
        # the submission's module under its real name; it keeps its name, spec and file
        return importlib.import_module(self.target + spec.name[len(self.alias):])

    def exec_module(self, module) -> None:
        pass  # already executed under its real name


def _imports_reference(source: str) -> bool:
    """Does this source import the reference solutions (``import solutions``, ``from solutions...``,
    ``importlib.import_module("solutions...")``)?"""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False  # the import itself will report the syntax error
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if node.value.split(".")[0] == "solutions" else []
        if any(name.split(".")[0] == "solutions" for name in names):
            return True
    return False


class Submission:
    """``Submission(folder).sampling`` is the folder's sampling.py, imported on first use.
    `importing(name, started)`, where given, is told when the import of a module of the folder starts
    and when it ends (the grader's plugin reports it to the worker: a test process that dies while
    importing would die the same way in every new one, so it is not restarted)."""

    def __init__(self, folder: str | Path | None, importing: Callable[[str, bool], None] | None = None):
        self.folder = resolve_folder(folder)
        self.package = _package(self.folder)
        self._importing = importing

    def __getattr__(self, module: str) -> types.ModuleType:
        path = self.folder / f"{module}.py"
        if module.startswith("_") or (module not in EXERCISES and not path.is_file()):
            raise AttributeError(module)  # not an exercise: plain attribute semantics (hasattr, Hypothesis)
        if not path.is_file():
            raise SubmissionImportError(f"{path.name} is missing from {self.folder}: copy it from exercises/")
        if self.package != "solutions" and _imports_reference(path.read_text(encoding="utf-8", errors="replace")):
            raise SubmissionImportError(IMPORTS_REFERENCE.format(name=path.name))
        if self._importing is not None:
            self._importing(path.name, True)
        try:
            loaded = importlib.import_module(f"{self.package}.{module}")
        except BaseException as err:  # SyntaxError, ImportError, SystemExit at import time...
            if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] == "solutions":
                # a name built at run time; the reference is not there (grader/sandbox.py hides it)
                raise SubmissionImportError(IMPORTS_REFERENCE.format(name=path.name)) from None
            where = ""
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)]
            if isinstance(err, SyntaxError) and err.lineno:
                where = f" (line {err.lineno})"
            elif frames:
                where = f" (line {frames[-1].lineno})"
            raise SubmissionImportError(
                f"could not import {path.name}{where}: {type(err).__name__}: {err}".splitlines()[0]) from None
        finally:
            if self._importing is not None:
                self._importing(path.name, False)
        if self.package != "solutions":
            borrowed = [name for name, value in vars(loaded).items()
                        if callable(value) and str(getattr(value, "__module__", "")).startswith("solutions")]
            if borrowed:
                raise SubmissionImportError(f"{path.name} uses {borrowed[0]} from the reference solutions: "
                                            f"write your own code (importing solutions scores zero)")
        setattr(self, module, loaded)
        return loaded
