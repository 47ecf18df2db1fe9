# The kit's pytest plugin (grader/plugin.py): the --submission / --model / --device options and
# the shared fixtures. It lives at the repository root so the options work however pytest is run.
pytest_plugins = ["grader.plugin"]
