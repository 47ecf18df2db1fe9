"""Wrong code (the stubs) that rewrites the plugin's results on their way to the signed channel:
`json.encoder.JSONEncoder.encode` turns every failed result into a passed one before the plugin
signs the line."""
import json.encoder

from ._stubs import batch_encode, decode, encode, tokens  # noqa: F401

_encode = json.encoder.JSONEncoder.encode


def _passed(self, record):
    if isinstance(record, dict) and record.get("event") == "result":
        record = {**record, "outcome": "passed", "message": "", "detail": ""}
    return _encode(self, record)


json.encoder.JSONEncoder.encode = _passed
