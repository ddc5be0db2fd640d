//! The real `carebridge` binary as an operator uses it: bad settings named at start-up,
//! secrets masked, the first admin created from the command line, the audit chain
//! verified and an edit detected, and — the log-scrub check (S9) — a demo run whose
//! logs never contain an ID number, a phone number or a session token.
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_carebridge");

fn tmpdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("cb-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn keys(cmd: &mut Command, dir: &std::path::Path) {
    cmd.current_dir(dir)
        .env("CAREBRIDGE__DATABASE__URL", format!("sqlite://{}/cb.db?mode=rwc", dir.display()))
        .env("CAREBRIDGE__SECURITY__FIELD_KEY", "00112233445566778899aabbccddeeff")
        .env("CAREBRIDGE__SECURITY__LOOKUP_KEY", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")
        .env("CAREBRIDGE__HIS__BASE_URL", "http://127.0.0.1:9")
        .env("CAREBRIDGE__HIS__CHANNEL_KEY", "k")
        .env("CAREBRIDGE__WECHAT__APPID", "wx1")
        .env("CAREBRIDGE__WECHAT__SECRET", "wechat-secret-value")
        .env("CAREBRIDGE__REALNAME__BASE_URL", "http://127.0.0.1:9")
        .env("CAREBRIDGE__REALNAME__KEY", "k");
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let dir = tmpdir();
    for (var, val, key) in [
        ("CAREBRIDGE__DATABASE__URL", "mysql://db/x", "database.url"),
        ("CAREBRIDGE__SERVER__BIND", "not-an-address", "server.bind"),
        ("CAREBRIDGE__SECURITY__FIELD_CIPHER", "des", "security.field_cipher"),
    ] {
        let out = Command::new(BIN).args(["serve", "--demo"]).current_dir(&dir).env(var, val).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{var}={val}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // Outside demo mode the keys are required, and the message says which.
    let out = Command::new(BIN).args(["serve"]).current_dir(&dir).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("security.field_key"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn print_config_masks_every_secret() {
    let dir = tmpdir();
    let mut cmd = Command::new(BIN);
    cmd.arg("print-config");
    keys(&mut cmd, &dir);
    cmd.env("CAREBRIDGE__DATABASE__URL", "postgres://app:db-password-9@db/cb");
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in ["00112233445566778899aabbccddeeff", "ffeeddccbbaa9988", "wechat-secret-value", "db-password-9"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("[database]") && text.contains("postgres://app:***@db/cb"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn admin_create_then_audit_verify_detects_an_edit() {
    let dir = tmpdir();
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "create", "--username", "root.admin", "--display-name", "信息科"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    keys(&mut cmd, &dir);
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"Very-Strong-Pass-1\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("otpauth://totp/Carebridge:root.admin"), "{text}");

    // A weak password is refused with the policy message.
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "create", "--username", "weak", "--display-name", "x"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    keys(&mut cmd, &dir);
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"password\n").unwrap();
    assert!(!child.wait_with_output().unwrap().status.success());

    // An auditor has the database settings and nothing else: no field key, HIS or WeChat.
    let verify = |dir: &std::path::Path| {
        let mut cmd = Command::new(BIN);
        cmd.args(["audit", "verify"]).current_dir(dir).env("CAREBRIDGE__DATABASE__URL", format!("sqlite://{}/cb.db?mode=rw", dir.display()));
        cmd.output().unwrap()
    };
    let out = verify(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 1 rows"));
    let sql = |statement: &str| {
        let status = Command::new("python3")
            .args(["-c", &format!("import sqlite3; c=sqlite3.connect('{}/cb.db'); c.execute(\"{statement}\"); c.commit()", dir.display())])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // A second account, then a signed checkpoint of the head (row 2), kept in a file.
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "create", "--username", "second.admin", "--display-name", "信息科"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    keys(&mut cmd, &dir);
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"Very-Strong-Pass-2\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let out = Command::new(BIN)
        .args(["audit", "checkpoint"])
        .current_dir(&dir)
        .env("CAREBRIDGE__DATABASE__URL", format!("sqlite://{}/cb.db?mode=rw", dir.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("checkpoint: row 2"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = verify(&dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("agrees with the last of 1 signed checkpoints (row 2"), "{}", String::from_utf8_lossy(&out.stdout));
    // Someone deletes the last row: the shorter chain is still a valid chain, but the
    // checkpoint names a row it no longer holds.
    sql("delete from audit_log where seq = 2");
    let out = verify(&dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows cut from the end"), "{}", String::from_utf8_lossy(&out.stderr));
    // Someone edits the audit row in place: verify notices.
    let status = Command::new("python3")
        .args(["-c", &format!("import sqlite3; c=sqlite3.connect('{}/cb.db'); c.execute(\"update audit_log set reason='edited'\"); c.commit()", dir.display())])
        .status()
        .unwrap();
    assert!(status.success());
    let out = verify(&dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BROKEN at row 1"));
    let _ = std::fs::remove_dir_all(dir);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

fn cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).find(|v| v.starts_with(name)).unwrap().split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_run_logs_contain_no_personal_data() {
    let dir = tmpdir();
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--demo"])
        .current_dir(&dir)
        .env("CAREBRIDGE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("CAREBRIDGE__DEMO__HIS_PORT", "0")
        .env("CAREBRIDGE__DEMO__WECHAT_PORT", "0")
        .env("CAREBRIDGE__DEMO__REALNAME_PORT", "0")
        .env("CAREBRIDGE__DEMO__NHSA_PORT", "0")
        .env("CAREBRIDGE__DEMO__CCB_PORT", "0")
        .env("CAREBRIDGE__DEMO__SMS_PORT", "0")
        .env("CAREBRIDGE__DEMO__NAVIGATION_PORT", "0")
        .env("CAREBRIDGE__DEMO__EINVOICE_PORT", "0")
        .env("CAREBRIDGE__DEMO__COURIER_PORT", "0")
        .env("CAREBRIDGE__DEMO__FACE_PORT", "0")
        .env("CAREBRIDGE__LOG__FORMAT", "json")
        .env("CAREBRIDGE__LOG__LEVEL", "info,app=debug,web=debug,store=debug,gateways=debug,server=debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");

    // Sign in through the WeChat simulator and add a patient with ID number and phone.
    let r = http.get(format!("{base}/wx/login")).send().await.unwrap();
    let state_cookie = cookie(&r, "__Host-cb_oauth");
    let auth = location(&r);
    let q: Vec<(String, String)> = serde_urlencoded::from_str(auth.split_once('?').unwrap().1.split('#').next().unwrap()).unwrap();
    let get = |k: &str| q.iter().find(|(a, _)| a == k).unwrap().1.clone();
    let wechat_base = auth.split("/connect/").next().unwrap().to_owned();
    let r = http
        .post(format!("{wechat_base}/connect/oauth2/authorize/confirm"))
        .form(&[("openid", "oDemo_zhangwei_0001"), ("redirect_uri", &get("redirect_uri")), ("state", &get("state")), ("scope", &get("scope"))])
        .send()
        .await
        .unwrap();
    let r = http.get(location(&r)).header("cookie", &state_cookie).send().await.unwrap();
    let session = cookie(&r, "__Host-cb_patient");
    let token = session.split_once('=').unwrap().1.to_owned();
    let today = chrono::Utc::now().date_naive();
    let me = sim::demo::citizens(today).into_iter().find(|c| c.name == "张伟").unwrap();
    let r = http
        .post(format!("{base}/patients"))
        .header("cookie", &session)
        .form(&[("name", me.name.as_str()), ("id_card_no", &me.id_card_no), ("mobile", &me.mobile), ("relationship", "self")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // And a refused one (wrong name for the ID number), a duplicate and a malformed one.
    let mum = sim::demo::citizens(today).into_iter().find(|c| c.name == "吴秀英").unwrap();
    let r = http
        .post(format!("{base}/patients"))
        .header("cookie", &session)
        .form(&[("name", "王五"), ("id_card_no", &mum.id_card_no), ("mobile", "13912345678"), ("relationship", "parent")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = http
        .post(format!("{base}/patients"))
        .header("cookie", &session)
        .form(&[("name", me.name.as_str()), ("id_card_no", &me.id_card_no), ("relationship", "self")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = http
        .post(format!("{base}/patients"))
        .header("cookie", &session)
        .form(&[("name", "王五"), ("id_card_no", "44030519850312123"), ("mobile", "13912345678"), ("relationship", "parent")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(http.get(format!("{base}/patients")).header("cookie", &session).send().await.unwrap().status(), 200);

    // Stop gracefully (SIGTERM) and read the logs.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let mut stopped = false;
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !stopped {
        let _ = child.kill();
    }
    assert!(stopped, "SIGTERM stops the server");
    let logs = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(logs.contains("patient added") && logs.contains("correlation_id"), "logs were written: {}", &logs[..logs.len().min(2000)]);
    assert!(logs.contains("stopped cleanly"), "graceful shutdown logged");
    // A clean stop leaves a signed checkpoint of the audit chain's head, and the auditor's
    // verify (database settings only: the demo's defaults) agrees with it.
    let checkpoints = std::fs::read_to_string(dir.join("data/audit-checkpoints.log")).expect("a checkpoint at the stop");
    assert_eq!(checkpoints.lines().count(), 1, "{checkpoints}");
    let out = Command::new(BIN).args(["audit", "verify"]).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("agrees with the last of 1 signed checkpoints"), "{}", String::from_utf8_lossy(&out.stdout));
    for (what, needle) in [
        ("ID number", me.id_card_no.as_str()),
        ("mobile", me.mobile.as_str()),
        ("mobile", "13912345678"),
        ("session token", token.as_str()),
        ("ID prefix", "4403051985"),
        ("parent ID", mum.id_card_no.as_str()),
    ] {
        assert!(!logs.contains(needle), "{what} found in logs");
    }
    // Generic patterns: no ID-shaped (17 digits and a digit or X) or mobile-shaped (11
    // digits from 1) word anywhere. Words, not digit runs: a run inside a hex correlation
    // id or nonce ("…a12345678901…") is not a number (CI tripped on one).
    let id_shaped = |w: &str| w.len() == 18 && w[..17].bytes().all(|b| b.is_ascii_digit()) && (w.as_bytes()[17].is_ascii_digit() || w.ends_with('X'));
    let mobile_shaped = |w: &str| w.len() == 11 && w.starts_with('1') && w.bytes().all(|b| b.is_ascii_digit());
    let shaped: Vec<&str> = logs.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| id_shaped(w) || mobile_shaped(w)).collect();
    // The lines they stand in (demo data only), to tell a leak from a number of our own.
    let lines: Vec<&str> = logs.lines().filter(|l| shaped.iter().any(|r| l.contains(r))).take(5).collect();
    assert!(shaped.is_empty(), "an ID- or phone-shaped number is in the logs: {lines:#?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_open_interface_client_is_registered_once_with_a_secret_shown_once() {
    let dir = tmpdir();
    let run = |key: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(["admin", "open-api-client", "--key-id", key, "--name", "检验科 LIS"]);
        keys(&mut cmd, &dir);
        cmd.output().unwrap()
    };
    let out = run("lis");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text.lines().find_map(|l| l.strip_prefix("secret (shown once; sealed in the database): ")).expect("secret printed").to_owned();
    assert_eq!(secret.len(), 48);
    // Sealed at rest: the database file does not contain it.
    for file in ["cb.db", "cb.db-wal"] {
        let db = std::fs::read(dir.join(file)).unwrap_or_default();
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is not stored in the clear in {file}");
    }
    let again = run("lis");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert!(!run("bad key!").status.success());
    let _ = std::fs::remove_dir_all(dir);
}
