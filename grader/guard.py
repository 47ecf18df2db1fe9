"""The tamper guard of a graded test process (only under the grader, i.e. with --grader-channel).

The submission runs inside the test process, so nothing here is a sandbox; these are layers
that make the known ways of changing a score fail, each one proven by a submission under
tests/adversarial/:
1. an audit hook (which Python never lets anyone remove) refuses, from the submission's code,
   the tools for reaching into the grader: gc.get_objects/get_referrers/get_referents, trace
   and profile functions, rewriting a function's __code__, raw memory through ctypes, signals
   to other processes, starting processes, and opening the kit's own files (reference, tests,
   grader); and, from anyone, rewriting the code of a function the Guard watches;
2. after each test, the Guard compares what the tests rely on with a snapshot taken before any
   submission code ran: the functions and classes of pytest, pluggy, pytest-timeout, the kit
   (grader, reference, tests and their helpers), torch, the transformers classes of the model
   and tokenizer, builtins, operator, os, os.path, json, hmac; pytest's registered hook
   implementations; the model's weights (identity, storage and version counter), hooks and methods.
   A function or method added where the tests would find it first (a module global shadowing a
   builtin, a method shadowing a base class's) counts as a replacement.
Neither layer can be blinded from inside the process by replacing what it calls: the audit hook and
the Guard's comparison bind every function, builtin and table they use when they are made (before
any submission code runs), and compare with `is not` over the saved objects; what they rely on in a
module or a class (builtins, operator, the Guard itself) is in the snapshot, so replacing it is
itself reported. (grader/channel.py does the same for the signed report.)
(grader/submission.py refuses a submission that imports the reference solutions.)
"""
from __future__ import annotations

import operator
import os
import sys
import sysconfig
import types
from pathlib import Path

from . import models
from .submission import REPO

_AUDITED = {
    "gc.get_objects": "look through the grader's memory (gc.get_objects)",
    "gc.get_referrers": "look through the grader's memory (gc.get_referrers)",
    "gc.get_referents": "look through the grader's memory (gc.get_referents)",
    "sys._current_frames": "inspect the grader's frames (sys._current_frames)",
    "sys.settrace": "install a trace function (sys.settrace)",
    "sys.setprofile": "install a profile function (sys.setprofile)",
    "ctypes.string_at": "read raw memory with ctypes",
    "ctypes.wstring_at": "read raw memory with ctypes",
    "ctypes.cdata": "read raw memory with ctypes",
    "ctypes.addressof": "read raw memory with ctypes",
    # C functions (libc's open and read...) would reach the kit's files past the "open" event.
    "ctypes.dlopen": "load a C library with ctypes",
    "ctypes.dlsym": "load a C library with ctypes",
    # A process it started could outlive the test process and rewrite the results afterwards.
    "os.fork": "start another process",
    "os.forkpty": "start another process",
    "os.posix_spawn": "start another process",
    "os.spawn": "start another process",
    "os.exec": "start another process",
    "os.system": "start another process",
    "subprocess.Popen": "start another process",
}


def kit_folders(hidden: str | None) -> tuple[str, ...]:
    """The kit's own code: the grader, the reference, the tests and the instructor's hidden tests."""
    folders = [REPO / "grader", REPO / "solutions", REPO / "tests"] + ([Path(hidden)] if hidden else [])
    return tuple(str(f.resolve()) + os.sep for f in folders)


class Alarms(list):
    """The refusals of the audit hook, in order; `kit` the folders it protects; `watched` the ids
    of the functions whose code and defaults nobody may rewrite (filled in by the Guard)."""

    kit: tuple[str, ...]
    watched: set[int]


def install_audit_hook(submission: Path, hidden: str | None) -> Alarms:
    """Refuse the tools for reaching into the grader when the code of `submission` (its folder)
    asks for them. Returns the list to which each refusal is appended (the Guard reports them)."""
    prefix = str(submission) + os.sep
    kit = tuple(k for k in kit_folders(hidden) if not prefix.startswith(k))
    own_pid = os.getpid()
    # Frames of Python's own library (not its site-packages), and of code without a file
    # (importlib's frozen modules, exec'd strings).
    stdlib = (sysconfig.get_paths()["stdlib"] + os.sep, "<")

    # Importers that load a module for whoever imports it: pytest's assertion-rewriting hook (which
    # claims every package of an installed pytest plugin's distribution, the kit's own included)
    # and setuptools' editable-install finder. Like Python's own importlib, they never decide.
    importers = (os.sep + os.path.join("_pytest", "assertion", "rewrite.py"), os.sep + "__editable__")
    packages = "-packages" + os.sep

    def in_stdlib(filename: str) -> bool:
        if importers[0] in filename or importers[1] in filename:
            return True
        return filename.startswith(stdlib) and packages not in filename

    alarms = Alarms()
    alarms.kit, alarms.watched = kit_folders(hidden), set()
    # Bound now: the hook looks up nothing that the submission could replace later (a builtin, a
    # function of os.path, the tables of this module, the Alarms class), not even for as long as
    # one call (replaced, used, put back before the Guard looks).
    getframe, audited, events, watched = sys._getframe, dict(_AUDITED), _WATCHED_EVENTS, alarms.watched
    abspath, relpath, dirname, basename = _abspath(), os.path.relpath, os.path.dirname, os.path.basename
    instance_of, string, length, identity, attribute, append = isinstance, str, len, id, getattr, list.append
    sep, refuse, parts = os.sep, PermissionError, _FUNCTION_PARTS

    def forbidden(event: str, args: tuple) -> str:
        if event in audited:
            return audited[event]
        if event == "object.__setattr__" and length(args) > 1 and args[1] in parts:
            return f"rewrite a function's {args[1]}"
        if event in ("os.kill", "os.killpg") and (event == "os.killpg" or args[0] != own_pid):
            return "send a signal to another process"
        if event == "open" and instance_of(args[0], string):
            path = abspath(args[0])
            if path.startswith(kit):
                return f"open the kit's file {relpath(path, dirname(kit[0].rstrip(sep)))}"
        return ""

    def from_submission() -> str:
        """Where in the submission the operation comes from: the innermost frame outside Python's
        own library and the importers above decides (so `pathlib.Path.read_text` or an import made
        by the submission counts as the submission's, while pytest-timeout's handler interrupting
        the submission's loop does not)."""
        frame = getframe(2)
        while frame is not None and in_stdlib(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is not None and frame.f_code.co_filename.startswith(prefix):
            return f"{basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        return ""

    def hook(event, args):
        if event not in events:
            return
        what = forbidden(event, args)
        where = from_submission() if what else ""
        if where:
            append(alarms, f"the submission tried to {what} (at {where})")
            raise refuse(f"grading does not allow a submission to {what}")
        if what and event == "object.__setattr__" and identity(args[0]) in watched:
            # Whoever does it (a submission can hide its frames): a function the tests rely on.
            append(alarms, f"the submission rewrote {attribute(args[0], '__qualname__', 'a function')}'s {args[1]}")
            raise refuse("grading does not allow rewriting the kit's or pytest's functions")

    sys.addaudithook(hook)
    return alarms


def _abspath():
    """os.path.abspath for the audit hook, from C functions only where Python has them (POSIX):
    os.path's own looks up os.getcwd, isabs, join and normpath as it runs."""
    if os.sep != "/":
        return os.path.abspath
    import posix

    getcwd, normpath = posix.getcwd, getattr(posix, "_path_normpath", os.path.normpath)

    def abspath(path: str) -> str:
        return normpath(path if path.startswith("/") else getcwd() + "/" + path)

    return abspath


_FUNCTION_PARTS = ("__code__", "__defaults__", "__kwdefaults__")
_WATCHED_EVENTS = frozenset(_AUDITED) | {"object.__setattr__", "os.kill", "os.killpg", "open"}
_FRAMEWORK = ("pytest", "_pytest", "pluggy", "pytest_timeout", "grader", "solutions")
# What the guard, the audit hook and the signed channel rely on comes first: replacing it is
# reported as such (not as whatever was patched with its help).
_LIBRARY = ("builtins", "operator", "os", os.path.__name__, "json", "json.encoder", "json.decoder", "hmac",
            "hashlib", "math", "torch", "torch.functional", "torch.nn.functional", "torch.special", "torch.linalg",
            "torch.nn.modules.module", "transformers.generation.logits_process", "transformers.generation.utils")
_MODEL_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                "_state_dict_hooks", "_load_state_dict_pre_hooks")
_MISSING = object()


def _watchable(value, _callable=callable, _isinstance=isinstance, _kinds=(property, classmethod, staticmethod)) -> bool:
    return _callable(value) or _isinstance(value, _kinds)


class Guard:
    """A snapshot of what the tests rely on, taken before any submission code runs; `check()`
    names the first thing that changed since (or the first refused audit event).

    `check` is a function bound to this snapshot when the Guard is made, not a method: whoever
    keeps it (the plugin, from before the submission is imported) calls the same code however the
    submission changes this class afterwards."""

    def __init__(self, config, alarms: Alarms):
        self.alarms = alarms
        self.config = config  # pytest's: its plugin manager holds the hooks
        # (label, live namespace, saved entries, every key it had)
        self.spaces: list[tuple[str, object, dict, frozenset]] = []
        self.kwdefaults: list[tuple[str, dict, dict]] = []  # (label, live dict, saved copy)
        self.classes: set[int] = set()
        for name in _LIBRARY:  # their classes: only those listed in _library_classes()
            if name in sys.modules:
                self._watch_module(name, sys.modules[name], classes=False)
        # The grader first (the guard, the plugin, the channel), then the rest in order.
        for name, module in sorted(sys.modules.items(), key=lambda item: (item[0].split(".")[0] != "grader", item[0])):
            file = os.path.abspath(getattr(module, "__file__", None) or "/")
            if name.split(".")[0] in _FRAMEWORK or file.startswith(alarms.kit):
                self._watch_module(name, module, classes=True)
        loaded = models.loaded_models()
        for cls in _library_classes() + [type(lm.model) for lm in loaded] + [type(lm.tokenizer) for lm in loaded]:
            for base in cls.__mro__:
                self._watch_class(base)
        self.hooks = self._hookimpls(config)
        self.models = [(lm, _model_state(lm)) for lm in loaded]
        self.check = _checker(self)

    def _watch_module(self, name: str, module, classes: bool) -> None:
        entries = {k: v for k, v in vars(module).items() if _watchable(v)}
        self.spaces.append((name, vars(module), entries, frozenset(vars(module))))
        for key, value in entries.items():
            if isinstance(value, types.FunctionType):
                self._watch_function(f"{name}.{key}", value)
            elif classes and isinstance(value, type) and value.__module__.split(".")[0] in _FRAMEWORK + (
                    name.split(".")[0],):
                self._watch_class(value)

    def _watch_class(self, cls: type) -> None:
        if id(cls) in self.classes or cls is object:
            return
        self.classes.add(id(cls))
        entries = {k: v for k, v in vars(cls).items() if _watchable(v)}
        label = f"{cls.__module__}.{cls.__qualname__}"
        self.spaces.append((label, vars(cls), entries, frozenset(vars(cls))))
        for key, value in entries.items():
            if isinstance(value, types.FunctionType):
                self._watch_function(f"{label}.{key}", value)

    def _watch_function(self, label: str, fn: types.FunctionType) -> None:
        # Rewriting its __code__ or defaults is refused by the audit hook; only the keyword
        # defaults, a dict, can change in place.
        self.alarms.watched.add(id(fn))
        if fn.__kwdefaults__:
            self.kwdefaults.append((label, fn.__kwdefaults__, dict(fn.__kwdefaults__)))

    @staticmethod
    def _hookimpls(config) -> dict:
        return {name: [(impl.plugin, impl.function) for impl in caller.get_hookimpls()]
                for name, caller in vars(config.pluginmanager.hook).items() if hasattr(caller, "get_hookimpls")}


def _checker(guard: Guard):
    """`guard.check`: its comparisons use only what is bound here, when the Guard is made (before
    any submission code runs), and the snapshot itself. Once they have found every watched module
    and class as it was (builtins, operator, this module, pytest...), the rest may look things up."""
    alarms, spaces, kwdefaults, config, hooks, loaded = (
        guard.alarms, guard.spaces, guard.kwdefaults, guard.config, guard.hooks, guard.models)
    any_, map_, is_not, next_, is_watchable, missing = any, map, operator.is_not, next, _watchable, _MISSING
    count, first, hookimpls, model_changes = list.__len__, list.__getitem__, Guard._hookimpls, _model_changes

    def check() -> str:
        if count(alarms):
            return first(alarms, 0)
        for label, live, saved, keys in spaces:
            # Identity, not equality: a replacement could claim to be equal. Compared in C (fast).
            if any_(map_(is_not, saved.values(), map_(live.get, saved))):
                key = next_(k for k, v in saved.items() if live.get(k, missing) is not v)
                return f"the submission replaced {label}.{key}"
            if live.keys() != keys:
                added = next_((k for k in live if k not in keys and is_watchable(live[k])), None)
                if added is not None:
                    return f"the submission added {label}.{added}"
        for label, live, saved in kwdefaults:
            if live.keys() != saved.keys() or any_(map_(is_not, saved.values(), map_(live.get, saved))):
                return f"the submission changed the keyword defaults of {label}"
        if hookimpls(config) != hooks:
            return "the submission changed pytest's plugins or hooks"
        for lm, saved in loaded:
            changed = model_changes(lm, saved)
            if changed:
                return changed
        return ""

    return check


def _library_classes() -> list[type]:
    import hmac
    import json

    import torch

    return [torch.Tensor, torch._C.TensorBase, torch.nn.Module, torch.nn.Linear, torch.nn.Embedding,
            torch.Generator, json.JSONEncoder, json.JSONDecoder, hmac.HMAC]


def _model_state(lm) -> dict:
    """What a test checks of a model after each test: every module's parameter, buffer and child
    dicts (the dicts themselves, and each entry's identity, storage and version counter), its
    methods and its hooks; the tokenizer's methods. Read module by module, which is much cheaper
    than named_parameters() after every test."""
    model = lm.model
    stores = []  # (label, module, kind, the dict, its entries then)
    for name, module in model.named_modules():
        for kind in ("_parameters", "_buffers", "_modules"):
            store = vars(module)[kind]
            stores.append((name, module, kind, store, [(key, value, *_storage(value)) for key, value in store.items()]))
    modules = [(name, m, {k: v for k, v in vars(m).items() if callable(v)},
                sum(len(getattr(m, a, ())) for a in _MODEL_HOOKS)) for name, m in model.named_modules()]
    tokenizer = {k: v for k, v in vars(lm.tokenizer).items() if callable(v)}
    return {"stores": stores, "modules": modules, "tokenizer": tokenizer}


def _storage(value) -> tuple:
    """(data_ptr, version) of a tensor; () for a child module or None."""
    import torch

    return (value.data_ptr(), value._version) if isinstance(value, torch.Tensor) else ()


# _MODEL_HOOKS and _MISSING bound at import: a module's globals other than callables are not in the snapshot.
def _model_changes(lm, saved: dict, _MODEL_HOOKS=_MODEL_HOOKS, _MISSING=_MISSING) -> str:
    for name, module, kind, store, entries in saved["stores"]:
        what = "modules" if kind == "_modules" else "weights"
        where = name or "model"
        if vars(module).get(kind) is not store or len(store) != len(entries):
            return f"your code changed the model's {what} ({where}); functions must never modify the model they are given"
        for key, value, *storage in entries:
            current = store.get(key, _MISSING)
            if current is not value or (storage and [current.data_ptr(), current._version] != storage):
                where = f"{name}.{key}" if name else key
                return (f"your code changed the model's {what} ({where}); functions must never modify the "
                        f"model they are given")
    for name, module, methods, hooks in saved["modules"]:
        label = f"model.{name}" if name else "model"
        if not _same({k: v for k, v in vars(module).items() if callable(v)}, methods):
            return f"your code replaced a method of {label}; functions must never modify the model they are given"
        if sum(len(getattr(module, a, ())) for a in _MODEL_HOOKS) != hooks:
            return f"your code left a hook on {label}; functions must never modify the model they are given"
    if not _same({k: v for k, v in vars(lm.tokenizer).items() if callable(v)}, saved["tokenizer"]):
        return "your code replaced a method of the tokenizer; functions must never modify the tokenizer"
    return ""


def _same(now: dict, then: dict) -> bool:
    """The same keys, each with the very same object (a replacement could claim to be equal)."""
    return now.keys() == then.keys() and not any(map(operator.is_not, then.values(), map(now.get, then)))
