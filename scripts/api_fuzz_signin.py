"""Signs a demo patient in through the real WeChat OAuth round trip and adds him as
就诊人, then prints the session cookie (`name=value`) for schemathesis to send and, on a
second line, the patient's id.
Used by scripts/api-fuzz; standard library only."""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def call(method, url, headers=None, data=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        r = opener.open(req, timeout=30)
    except urllib.error.HTTPError as e:
        r = e
    return r.status, r.headers, r.read()


def cookie(headers, name):
    for v in headers.get_all("Set-Cookie") or []:
        pair = v.split(";")[0]
        if pair.startswith(name + "="):
            return pair
    raise SystemExit(f"no {name} cookie")


def main(base, wechat, openid, name, id_card_no):
    status, h, _ = call("GET", f"{base}/wx/login?next=%2Fpatients")
    assert status == 303, status
    oauth = cookie(h, "__Host-cb_oauth")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(h["Location"]).query))
    form = urllib.parse.urlencode({"openid": openid, "redirect_uri": q["redirect_uri"], "state": q["state"], "scope": q.get("scope", "")}).encode()
    status, h, _ = call("POST", f"{wechat}/connect/oauth2/authorize/confirm", {"content-type": "application/x-www-form-urlencoded"}, form)
    assert status == 303, status
    status, h, _ = call("GET", h["Location"], {"cookie": oauth})
    assert status == 303, status
    session = cookie(h, "__Host-cb_patient")
    body = json.dumps({"name": name, "id_card_no": id_card_no, "relationship": "self"}).encode()
    status, _, out = call("POST", f"{base}/api/v1/me/patients", {"cookie": session, "content-type": "application/json"}, body)
    assert status in (201, 409), (status, out)
    status, _, out = call("GET", f"{base}/api/v1/me/patients", {"cookie": session})
    assert status == 200, status
    pid = json.loads(out)[0]["id"]
    book_one(base, session, pid)
    print(session)
    print(pid)


def book_one(base, session, pid):
    """A booking of the patient's, so the fuzzer's stateful phase has one to follow."""
    _, _, out = call("GET", f"{base}/api/v1/departments")
    for dept in json.loads(out):
        _, _, out = call("GET", f"{base}/api/v1/departments/{dept['dept_id']}/schedules")
        for sched in json.loads(out):
            for slot in sched.get("slots", []):
                if slot.get("available", 0) > 0:
                    body = json.dumps({"patient_id": pid, "dept_id": dept["dept_id"], "slot_id": slot["slot_id"]}).encode()
                    headers = {"cookie": session, "content-type": "application/json", "idempotency-key": "api-fuzz-seed"}
                    status, _, _ = call("POST", f"{base}/api/v1/me/registrations", headers, body)
                    if status == 201:
                        return


if __name__ == "__main__":
    main(*sys.argv[1:6])
