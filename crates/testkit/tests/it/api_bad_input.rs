//! Bad input of every kind gets its stable code, a Chinese message, a correlation id,
//! and no internals (S17), on both backends.
use serde_json::Value;
use testkit::{TestApp, on_both_backends};

fn assert_clean_error(body: &str) {
    for leak in ["panicked", "sqlx", "sea_orm", "DbErr", "at src/", "stack backtrace", "SELECT ", "postgres://", "sqlite:"] {
        assert!(!body.contains(leak), "error body leaks {leak}: {body}");
    }
}

async fn json_error(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_clean_error(&text);
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

on_both_backends! {
    async fn malformed_requests_get_catalogued_errors(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        let h = TestApp::http();
        let url = t.url("/api/v1/me/patients");

        let (s, e) = json_error(h.post(&url).header("cookie", &cookie).header("content-type", "text/plain").body("{}").send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (415, "UNSUPPORTED_MEDIA_TYPE"));

        let (s, e) = json_error(h.post(&url).header("cookie", &cookie).header("content-type", "application/json").body("{\"name\": ").send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (400, "BAD_REQUEST"));

        let (s, e) = json_error(h.post(&url).header("cookie", &cookie).header("content-type", "application/json").body("{\"name\": 5}").send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (422, "VALIDATION_FAILED"));

        // Every body is an object: an array (which serde would read as a struct's fields in
        // order, `[null]` as "no child named") is refused before any use case runs.
        let withdraw = t.url("/api/v1/me/consents/wechat_notices/withdraw");
        for body in ["[null]", "[]", "null", "7"] {
            let (s, e) = json_error(h.post(&withdraw).header("cookie", &cookie).header("content-type", "application/json").body(body).send().await.unwrap()).await;
            assert_eq!((s, e["code"].as_str().unwrap()), (422, "VALIDATION_FAILED"), "{body}");
        }
        let consents: Vec<Value> = h.get(t.url("/api/v1/me/consents")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
        assert!(consents.iter().all(|c| c["withdrawn_at"].is_null()), "nothing withdrawn: {consents:?}");

        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70_000));
        let (s, e) = json_error(h.post(&url).header("cookie", &cookie).header("content-type", "application/json").body(big).send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (413, "PAYLOAD_TOO_LARGE"));

        let (s, e) = json_error(h.get(t.url("/api/v1/nothing-here")).send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (404, "NOT_FOUND"));

        let (s, e) = json_error(h.put(t.url("/api/v1/departments")).send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (405, "METHOD_NOT_ALLOWED"));

        let (s, e) = json_error(h.delete(t.url("/api/v1/me/patients/not-a-number")).header("cookie", &cookie).send().await.unwrap()).await;
        assert_eq!(s, 400, "{e}");

        // Forged and garbled session cookies.
        for forged in ["__Host-cb_patient=00000000000000000000000000000000", "__Host-cb_patient=<script>", "__Host-cb_patient="] {
            let (s, e) = json_error(h.get(&url).header("cookie", forged).send().await.unwrap()).await;
            assert_eq!((s, e["code"].as_str().unwrap()), (401, "UNAUTHENTICATED"), "{forged}");
        }
        // Nothing was added by any of it.
        let r = h.get(&url).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 0);
    }
}

on_both_backends! {
    async fn pages_answer_errors_in_chinese_with_a_correlation_id(backend) {
        let t = TestApp::spawn(backend).await;
        let h = TestApp::http();
        let r = h.get(t.url("/no/such/page")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let id = r.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        let body = r.text().await.unwrap();
        assert!(body.contains("您访问的页面或资源不存在") && body.contains("NOT_FOUND") && body.contains(&id), "{body}");
        assert_clean_error(&body);
        // Unauthenticated page → the WeChat sign-in, remembering where to come back.
        let r = h.get(t.url("/patients")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(testkit::app::location(r.headers()), "/wx/login?next=%2Fpatients");
        // Open redirects are refused: `next` must be a local path.
        let r = h.get(t.url("/wx/login?next=https%3A%2F%2Fevil.example%2F")).send().await.unwrap();
        let state = testkit::app::url_query(&testkit::app::location(r.headers())).into_iter().find(|(k, _)| k == "state").unwrap().1;
        assert!(state.ends_with(&format!(".{}", hex::encode("/"))), "{state}");
    }
}

on_both_backends! {
    async fn cross_site_form_posts_are_refused(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        let r = TestApp::http()
            .post(t.url("/patients"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .form(&[("name", "李娜"), ("id_card_no", "x"), ("relationship", "self")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("CSRF_REJECTED"));
        // The same post from our own origin goes through to validation.
        let r = TestApp::http()
            .post(t.url("/patients"))
            .header("cookie", &cookie)
            .header("origin", &t.base)
            .form(&[("name", "李娜"), ("id_card_no", "x"), ("relationship", "self")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let body = r.text().await.unwrap();
        assert!(body.contains("身份证号码不正确") && body.contains("value=\"李娜\""), "form re-rendered with what was typed");
    }
}

on_both_backends! {
    async fn security_headers_and_ops_endpoints(backend) {
        let t = TestApp::spawn(backend).await;
        let h = TestApp::http();
        let r = h.get(t.url("/")).send().await.unwrap();
        for (k, v) in [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("cache-control", "no-store")] {
            assert_eq!(r.headers().get(k).unwrap(), v);
        }
        assert!(r.headers().get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(r.headers().get("server").is_none());
        assert_eq!(h.get(t.url("/healthz")).send().await.unwrap().status(), 200);
        let r = h.get(t.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let m = h.get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("carebridge_http_requests_total"), "{m}");
        let spec: Value = h.get(t.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(spec["openapi"].as_str().unwrap().chars().next(), Some('3'));
        for p in ["/api/v1/me/patients", "/api/v1/me/patients/{id}", "/api/v1/departments", "/api/v1/departments/{dept_id}/schedules"] {
            assert!(spec["paths"].get(p).is_some(), "{p} documented");
        }
        // One id per operation, every link pointing at one of them (a misspelt link target
        // would otherwise drop silently), and the answers every operation can give.
        let ops: Vec<(&String, &String, &Value)> = spec["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().iter().map(move |(method, op)| (path, method, op)))
            .collect();
        let ids: std::collections::HashSet<&str> = ops.iter().map(|(_, _, op)| op["operationId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), ops.len(), "operation ids are unique");
        let mut links = 0;
        for (path, method, op) in &ops {
            assert!(op["responses"].get("400").is_some(), "{method} {path} documents 400");
            if path.starts_with("/api/v1/me/") {
                assert!(op["responses"].get("401").is_some(), "{method} {path} documents 401");
            }
            if op.get("requestBody").is_some() {
                assert!(op["responses"].get("415").is_some(), "{method} {path} documents 415");
            }
            for resp in op["responses"].as_object().unwrap().values() {
                for link in resp.get("links").and_then(Value::as_object).into_iter().flat_map(|l| l.values()) {
                    assert!(ids.contains(link["operationId"].as_str().unwrap()), "{method} {path}: link to {link}");
                    links += 1;
                }
            }
        }
        assert_eq!(links, 12, "every declared link made it into the spec");
        let docs = h.get(t.url("/api/docs/")).send().await.unwrap();
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }
}

on_both_backends! {
    async fn catalogue_from_the_his(backend) {
        let t = TestApp::spawn(backend).await;
        let h = TestApp::http();
        let depts: Vec<Value> = h.get(t.url("/api/v1/departments")).send().await.unwrap().json().await.unwrap();
        assert!(depts.len() >= 10);
        let peds = depts.iter().find(|d| d["name"] == "儿科").unwrap();
        let sched: Vec<Value> = h.get(t.url(&format!("/api/v1/departments/{}/schedules", peds["dept_id"].as_str().unwrap()))).send().await.unwrap().json().await.unwrap();
        assert!(!sched.is_empty());
        for s in &sched {
            for slot in s["slots"].as_array().unwrap() {
                assert!(slot["available"].as_u64().unwrap() <= slot["capacity"].as_u64().unwrap());
            }
        }
        let r = h.get(t.url("/api/v1/departments/9999/schedules")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let page = h.get(t.url(&format!("/departments/{}", peds["dept_id"].as_str().unwrap()))).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("儿科") && page.contains("余号"));
    }
}

on_both_backends! {
    async fn the_open_interface_answers_json_whatever_the_client_accepts(backend) {
        let t = TestApp::spawn(backend).await;
        // reqwest sends no Accept header, as hospital systems' clients often do not.
        let h = TestApp::http();
        let (s, e) = json_error(h.get(t.url("/open/v1/nothing-here")).send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (404, "NOT_FOUND"));
        let (s, e) = json_error(h.delete(t.url("/open/v1/messages")).send().await.unwrap()).await;
        assert_eq!(s, 405, "{e}");
        let big = "x".repeat(2 << 20);
        // The server answers 413 without reading the body and closes that connection; a client of its own
        // keeps the next requests off a pooled connection that may be closing under them.
        let once = TestApp::http();
        let (s, _) = json_error(once.post(t.url("/open/v1/messages")).header("content-type", "application/json").body(big).send().await.unwrap()).await;
        assert_eq!(s, 413);
        // A signed JSON body sent as text/plain: 415, as the spec says, before anything else.
        let body = r#"{"scene":"hospital.notice","his_patient_id":"P1","variables":{}}"#;
        let ts = t.app.now().timestamp().to_string();
        let sig = crypto::open_api::sign(sim::his::DEMO_PUSH_SECRET, "POST", "/open/v1/messages", &ts, "plain-nonce-01", body.as_bytes());
        let signed = h
            .post(t.url("/open/v1/messages"))
            .header("x-cb-key", sim::his::DEMO_PUSH_KEY_ID)
            .header("x-cb-timestamp", &ts)
            .header("x-cb-nonce", "plain-nonce-01")
            .header("x-cb-signature", sig)
            .header("idempotency-key", "plain-1")
            .header("content-type", "text/plain")
            .body(body);
        let (s, e) = json_error(signed.send().await.unwrap()).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (415, "UNSUPPORTED_MEDIA_TYPE"));
        for path in ["/open/v1/messages", "/open/v1/lab-events"] {
            let (s, e) = json_error(h.post(t.url(path)).header("content-type", "text/plain").body("{}").send().await.unwrap()).await;
            assert_eq!((s, e["code"].as_str().unwrap()), (415, "UNSUPPORTED_MEDIA_TYPE"), "{path}");
        }
    }
}
