"""Load the implementation under test: a folder laid out like `exercises/`.

The folder becomes a package (``solutions`` for the reference, ``submission`` for anything else),
so that its modules can import each other with ``from .sampling import sample_next_token``.
Each module is imported lazily, the first time a test asks for it, so a syntax error in one
exercise costs that exercise only.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import functools
import importlib
import importlib.abc
import importlib.util
import sys
import threading
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


class SubmissionError(Exception):
    """A one-line error about the submission's code, for the student (not an error it raised)."""


class SubmissionImportError(SubmissionError):
    """The submission's module could not be imported."""


class NotPlainResult(SubmissionError):
    """The submission gave a test something other than plain values (its docstring's Returns:)."""


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
    importing would die the same way in every new one, so it is not restarted).
    `apart` (under the grader): the submission's code, its imports included, runs in a thread of
    its own (`call_apart`), and its modules are handed out as `_Apart` views."""

    def __init__(self, folder: str | Path | None, importing: Callable[[str, bool], None] | None = None,
                 apart: bool = False):
        self.folder = resolve_folder(folder)
        self.package = _package(self.folder)
        self._importing = importing
        self._apart = apart

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
        name = f"{self.package}.{module}"
        try:
            loaded = call_apart(functools.partial(importlib.import_module, name), plain=False) if self._apart else \
                importlib.import_module(name)
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
        exposed = _Apart(loaded) if self._apart else loaded
        setattr(self, module, exposed)
        return exposed


# ----------------------------------------------------------------------------------------------
# The submission's code apart from the tests' (under the grader)
#
# Code of the submission that runs in a test's thread has the test's frame above its own: one
# `sys._getframe(1).f_locals` away are the values the test compares it with (a hidden test's
# recorded answer), and further up pytest's and the grader's own objects. So every call into the
# submission runs in a thread of its own, whose frames start at threading's bootstrap; what
# comes back is checked to be plain data (a list subclass whose __eq__ says yes would otherwise
# run the submission's code in the test's thread, and pass), and an exception it raised comes
# back as the library's own type, its message already made into text.

_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_OWN = ("submission", "solutions", "exercises")  # the packages a graded folder is imported as


def _plain_types() -> tuple:
    import torch

    return (torch.Tensor, torch.nn.Parameter, torch.dtype, torch.device, torch.Size)


def not_plain(value, depth: int = 0) -> str:
    """'' for plain data (None, numbers, strings, lists, tuples and dicts of them, torch tensors:
    exact types, never subclasses), else what the first other value is, for the student: "a
    BatchEncoding (from transformers)", "a float64 (from numpy) in a tuple in a list"."""
    kind = type(value)
    if kind in _PLAIN or kind in _plain_types():
        return ""
    if depth > 50:
        return "a structure nested more than 50 levels deep"
    if kind in (list, tuple):
        inner = next((found for v in value if (found := not_plain(v, depth + 1))), "")
    elif kind is dict:
        inner = next((found for k, v in value.items() if (found := not_plain(k, depth + 1) or not_plain(v, depth + 1))),
                     "")
    else:
        return _described(kind)
    return f"{inner} in a {kind.__name__}" if inner else ""


def _described(kind: type) -> str:
    root = str(getattr(kind, "__module__", "") or "").split(".")[0]
    notes = ["defined in your code"] if root in _OWN else \
        [f"from {root}"] if root != "builtins" else []
    base = next((b for b in kind.__mro__[1:] if b in _PLAIN or b in (list, tuple, dict)), None)
    notes += [f"a subclass of {base.__name__}"] if base is not None else []
    return f"a {kind.__name__}" + (f" ({'; '.join(notes)})" if notes else "")


def _not_plain_result(what: str, found: str) -> NotPlainResult:
    return NotPlainResult(f"{what} {found}, not plain data: return Python lists, tuples, dicts, numbers and "
                          f"strings, and torch tensors, as its docstring's Returns: says")


def _trusted(kind: type) -> bool:
    """An exception class that is not the submission's: Python's own, or one its module (not the
    submission's) holds under its name (torch's, pytest's, the kit's)."""
    if getattr(builtins, kind.__name__, None) is kind:
        return True
    module = sys.modules.get(getattr(kind, "__module__", "") or "")
    if module is None or kind.__module__.split(".")[0] in _OWN:
        return False
    found = module
    for part in kind.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is kind


def _text(value) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001 - its __str__ is the submission's code
        return f"<a {type(value).__name__} whose str() failed>"
    return text if type(text) is str else f"<a {type(value).__name__}>"


def _as_plain_error(err: BaseException, depth: int = 0) -> BaseException:
    """`err` where every part of it that a report reads is plain (runs in the submission's thread):
    itself when its class is trusted and its args are plain; else its nearest trusted base class
    with its message as text; its causes likewise (at most 10). The traceback stays (reports read
    only its code and line numbers)."""
    kind = type(err)
    if _trusted(kind) and not not_plain(err.args) and not getattr(err, "__dict__", None):
        safe = err
    else:
        base = next(k for k in kind.__mro__ if _trusted(k))
        try:
            safe = base(_text(err))
        except BaseException:  # noqa: BLE001 - a constructor that needs more arguments
            safe = RuntimeError(f"{kind.__name__}: {_text(err)}")
        safe = safe.with_traceback(err.__traceback__)
    cause = err.__cause__
    safe.__cause__ = _as_plain_error(cause, depth + 1) if cause is not None and cause is not err and depth < 10 else None
    safe.__context__ = None
    safe.__suppress_context__ = True
    return safe


class _Stop(BaseException):
    """Raised in the submission's thread once the test that called it has ended (a timeout)."""


def call_apart(call: Callable, plain: bool = True, name: str = "the function"):
    """`call()` in a thread of its own, with the caller's torch grad mode and torch function modes
    (a test that counts calls of torch.multinomial); returns its result, checked plain, or raises
    its exception, made plain (`plain=False`: the result as it is, a module imported; `name`: the
    function's, for the message of a result that is not plain). A caller interrupted while it waits
    (pytest-timeout) stops the thread too, where it runs Python code."""
    import torch
    from torch.overrides import _get_current_function_mode_stack

    grad, inference, modes = torch.is_grad_enabled(), torch.is_inference_mode_enabled(), \
        _get_current_function_mode_stack()
    box: list = []

    def run() -> None:
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(torch.inference_mode(inference))
                stack.enter_context(torch.set_grad_enabled(grad))
                for mode in modes:
                    stack.enter_context(mode)
                result = call()
            found = not_plain(result) if plain else ""
            box.append(("error", _not_plain_result(f"{name} returned", found)) if found else ("value", result))
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
            try:
                box.append(("error", _as_plain_error(err)))
            except BaseException:  # noqa: BLE001 - an exception that cannot even be described
                box.append(("error", RuntimeError(f"{name} raised a {type(err).__name__}")))

    thread = threading.Thread(target=run, name="submission", daemon=True)
    thread.start()
    try:
        thread.join()
    finally:
        if thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Stop))
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def _called_apart(function: Callable) -> Callable:
    @functools.wraps(function)
    def apart(*args, **kwargs):
        return call_apart(functools.partial(function, *args, **kwargs), name=function.__name__)
    return apart


class _Apart:
    """A module of the submission as the tests see it: each function called through `call_apart`
    (one wrapper per function object: `call_once`'s keys stay the same, and a function the tests
    replace in the module is the one called), every other attribute checked plain."""

    def __init__(self, module: types.ModuleType):
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_wrappers", {})

    def __getattr__(self, name: str):
        value = getattr(self._module, name)
        if callable(value):
            if value not in self._wrappers:
                self._wrappers[value] = _called_apart(value)
            return self._wrappers[value]
        if found := not_plain(value):
            raise _not_plain_result(f"{self._module.__name__.rpartition('.')[2]}.{name} is", found)
        return value

    def __setattr__(self, name: str, value) -> None:
        setattr(self._module, name, value)  # monkeypatch.setattr(impl.sampling, ...) patches the module

    def __delattr__(self, name: str) -> None:
        delattr(self._module, name)

    def __dir__(self):
        return dir(self._module)

    def __repr__(self) -> str:
        return repr(self._module)
