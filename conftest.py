# The kit's pytest plugin (grader/plugin.py): the --submission / --model / --device options and the
# shared fixtures. An installed kit (make setup) registers it for every pytest run through its
# pytest11 entry point (pyproject.toml); this line covers a checkout used without installing it.
pytest_plugins = ["grader.plugin"]
