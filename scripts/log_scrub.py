"""The log scrub (S9): reads every JSON log line the test suite wrote (testkit::logs)
and fails when the platform's own log holds an ID number (18 digits with a valid
GB 11643 check digit), a mainland mobile number, a session or OAuth token, or an
Authorization / cookie value. The simulators' lines (target `sim::…`) are skipped:
they stand for outside systems, which see what the hospital sends them.

It also fails when one test process wrote more than 20 MB: a flood of log lines is a
bug of its own (a loop that retries without pausing once spun at thousands of lines a
second while the database was away, hiding everything else).

    python3 scripts/log_scrub.py target/test-logs
"""
import json
import pathlib
import re
import sys

ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx])(?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<![0-9A-Za-z])(1[3-9][0-9]{9})(?![0-9A-Za-z])")
TOKEN_RES = [
    re.compile(r"__Host-cb_(?:patient|staff|oauth)=[0-9A-Za-z_-]{8,}"),
    re.compile(r"(?i)\b(?:access_token|refresh_token|pay_auth_no|payAuthNo|authCode|bindCode)\b[\"']?\s*[:=]\s*[\"']?[0-9A-Za-z_-]{6,}"),
    re.compile(r"(?i)[?&]code=[0-9A-Za-z_-]{6,}"),
    re.compile(r"(?i)\bBearer\s+[0-9A-Za-z._-]{10,}"),
]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
MAX_LOG_BYTES = 20 * 1024 * 1024


def valid_id(s):
    total = sum(int(c) * w for c, w in zip(s[:17], WEIGHTS))
    return CHECK[total % 11] == s[17].upper()


def mask(s):
    return s[:3] + "*" * max(0, len(s) - 6) + s[-3:]


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield str(k)
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def findings(text):
    for m in ID_RE.finditer(text):
        if valid_id(m.group(1)):
            yield "ID number", m.group(1)
    for m in MOBILE_RE.finditer(text):
        yield "mobile number", m.group(1)
    for r in TOKEN_RES:
        for m in r.finditer(text):
            yield "token", m.group(0)


def main(folder, allow_empty=False):
    files = sorted(pathlib.Path(folder).glob("*.jsonl"))
    lines = skipped = 0
    found = []
    for f in files:
        size = f.stat().st_size
        if size > MAX_LOG_BYTES:
            found.append((f.name, 0, "log flood", f"{size // (1024 * 1024)} MB from one test process"))
            continue
        for n, line in enumerate(f.open(encoding="utf-8", errors="replace"), 1):
            lines += 1
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                found.append((f.name, n, "unparsable line", line[:40]))
                continue
            if str(event.get("target", "")).startswith("sim"):
                skipped += 1
                continue
            for text in strings(event):
                for kind, value in findings(text):
                    found.append((f.name, n, kind, f"{mask(value)} (target {event.get('target')})"))
    print(f"log scrub: {len(files)} test logs, {lines} lines ({skipped} of the simulators skipped), {len(found)} findings")
    for f, n, kind, value in found[:50]:
        print(f"  {f}:{n}: {kind}: {value}")
    if not files and not allow_empty:
        print("no logs found: was CAREBRIDGE_TEST_LOG_DIR set?", file=sys.stderr)
        return 1
    return 1 if found else 0


if __name__ == "__main__":
    # --allow-empty: a filtered run (scripts/test -E …) may select only tests that log
    # nowhere here (the server's own process tests); the whole suite must leave logs.
    args = [a for a in sys.argv[1:] if a != "--allow-empty"]
    sys.exit(main(args[0] if args else "target/test-logs", "--allow-empty" in sys.argv[1:]))
