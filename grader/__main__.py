"""`python -m grader`: the kit's command line (grader/cli.py lists every command)."""
import sys

from . import not_installed

if not_installed():
    sys.exit(not_installed())

from .cli import main  # noqa: E402 - only where the kit's packages are installed

sys.exit(main())
