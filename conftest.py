# The kit's pytest plugin (grader/plugin.py): the --submission / --model / --device options and the
# shared fixtures. An installed kit (make setup) registers it for every pytest run through its
# pytest11 entry point (pyproject.toml); this line covers a checkout used without installing it.
from grader import not_installed

if not_installed():  # pytest outside the kit's environment: one line instead of an INTERNALERROR
    raise SystemExit(not_installed())
pytest_plugins = ["grader.plugin"]
