"""`python -m grader`: the kit's command line (grader/cli.py lists every command)."""
import sys

from .cli import main

sys.exit(main())
