"""The grading side of the kit: models, devices, points, the pytest plugin and the command line."""
import os

# No code path of the kit may reach the model hub: set this before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class KitError(Exception):
    """A problem the user can fix; its message is one line that says what was wrong and what to do."""
