"""Ends the process (os._exit, no clean-up, exit code 0) while being imported."""
import os

os._exit(0)
