"""The grading side of the kit: models, devices, points, the pytest plugin and the command line."""
import os
import sys

# No code path of the kit may reach the model hub: set this before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# What every command and pytest run of the kit imports (the rest of pyproject.toml's dependencies
# is imported where it is needed, e.g. copydetect for the class report).
NEEDED = ("torch", "transformers", "pytest", "rich")


def not_installed() -> str:
    """'' where this Python has the kit's packages, else the one line that says what to do (run
    without the environment: `pytest` or `python -m grader` outside .venv)."""
    import importlib.util

    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return ""
    activated = os.environ.get("VIRTUAL_ENV", "")
    if activated and not os.path.isdir(activated):  # its scripts name the folder it was made in
        return (f"error: the activated environment {activated} is not there any more (was the kit's folder moved "
                f"or copied?): run deactivate, then make clean setup here, then source .venv/bin/activate")
    return (f"error: this Python ({sys.executable}) has not the kit's packages ({', '.join(missing)}): "
            "use make grade, or run source .venv/bin/activate first (make setup creates .venv)")


class KitError(Exception):
    """A problem the user can fix; its message is one line that says what was wrong and what to do."""


def subprocess_env(*paths) -> dict[str, str]:
    """The environment of a process the kit starts (the grading worker, a recording run): this one's,
    offline, with `paths` first on PYTHONPATH."""
    pythonpath = [str(p) for p in paths] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(pythonpath)}


def versions(*packages: str) -> dict[str, str]:
    """The installed version of each package ("not installed" where it is not): what results and
    recordings note down, because a grade depends on them."""
    from importlib import metadata

    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def run_command(body) -> int:
    """Run a command line's `body()`, which returns the exit code. What keeps the command from
    running (a KitError, or an OSError such as an output path that cannot be written) is one line
    on stderr and exit code 2; Ctrl-C is exit code 130. Never a traceback."""
    try:
        return body()
    except (KitError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
