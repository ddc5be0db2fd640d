"""Schemathesis hooks for scripts/api-fuzz. A generated `patient_id` is, half the
time, the signed-in patient's own, so bookings and orders get past "not your patient"
to the checks behind it. Requests to the open message interface
(/open/v1/...) are signed as a hospital system would sign them (X-Cb-Key, -Timestamp,
-Nonce, -Signature over METHOD, path, time, nonce and the body's SHA-256), so the
fuzzer reaches what lies behind the signature check instead of stopping at 401."""
import hashlib
import hmac
import json
import os
import secrets
import time

import schemathesis
from schemathesis.core import NotSet

KEY_ID = os.environ.get("CB_OPEN_KEY_ID", "")
SECRET = os.environ.get("CB_OPEN_SECRET", "")
PATIENT_ID = int(os.environ.get("CB_PATIENT_ID", "0") or 0)


@schemathesis.hook
def map_body(ctx, body):
    if PATIENT_ID and isinstance(body, dict) and isinstance(body.get("patient_id"), int) and body["patient_id"] % 2 == 0:
        body["patient_id"] = PATIENT_ID
    return body


@schemathesis.hook
def before_call(ctx, case, kwargs):
    path = case.formatted_path
    if not path.startswith("/open/") or not KEY_ID:
        return
    # Sign the exact bytes that go out: serialise a JSON body here and send it as is.
    body = case.body
    if body is None or isinstance(body, NotSet):
        data = b""
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
        case.body = data
    ts = str(int(time.time()))
    nonce = secrets.token_hex(12)
    text = f"{case.method.upper()}\n{path}\n{ts}\n{nonce}\n{hashlib.sha256(data).hexdigest()}"
    sig = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    if case.headers is None:
        case.headers = {}
    case.headers.update({"X-Cb-Key": KEY_ID, "X-Cb-Timestamp": ts, "X-Cb-Nonce": nonce, "X-Cb-Signature": sig})
