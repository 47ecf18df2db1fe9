# The kit's own tests grade with a fresh worker each time, unless a test asks for a warm one
# (tests/kit/test_warm.py): no warm worker outlives the test run.
import os

os.environ.setdefault("TEXTGEN_KIT_WARM", "0")
