//! The file store's one interface, held to one contract by both implementations: the
//! local directory and the S3-compatible store (over real HTTP against the S3
//! simulator, which checks every Signature Version 4).
use domain::ports::FileStorePort;
use gateways::files::{LocalDiskStore, S3Config, S3Store};
use std::sync::Arc;

async fn contract(store: &dyn FileStorePort) {
    let key = "reports/2026/11/0a1b2c3d.pdf";
    assert_eq!(store.get(key).await.unwrap(), None, "{}: absent is None", store.backend());
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    store.put(key, bytes.clone()).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), Some(bytes.clone()), "{}: what went in comes out", store.backend());
    store.put(key, b"replaced".to_vec()).await.unwrap();
    assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&b"replaced"[..]));
    store.put(&format!("{key}.p1.png"), b"page".to_vec()).await.unwrap();
    store.delete(key).await.unwrap();
    store.delete(key).await.unwrap();
    assert_eq!(store.get(key).await.unwrap(), None);
    assert_eq!(store.get(&format!("{key}.p1.png")).await.unwrap().as_deref(), Some(&b"page"[..]), "deleting one key leaves its neighbours");
    for bad in ["../etc/passwd", "/abs", "a//b", "Upper.pdf"] {
        assert!(store.put(bad, vec![1]).await.is_err(), "{}: {bad:?} refused", store.backend());
    }
}

async fn s3_sim() -> (String, sim::s3::SharedS3) {
    let st = sim::s3::state(sim::s3::S3SimConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = sim::s3::router(st.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, st)
}

fn s3_store(url: &str, secret: &str) -> S3Store {
    let c = sim::s3::S3SimConfig::default();
    S3Store::new(
        S3Config {
            endpoint: url.into(),
            bucket: c.bucket,
            region: c.region,
            access_key: c.access_key,
            secret_key: secret.into(),
            timeout: std::time::Duration::from_secs(5),
        },
        std::sync::Arc::new(domain::SystemClock),
    )
}

#[tokio::test]
async fn local_directory_keeps_the_contract() {
    let dir = std::env::temp_dir().join(format!("cb-fs-{}", uuid::Uuid::new_v4().simple()));
    contract(&LocalDiskStore::new(&dir)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn s3_compatible_store_keeps_the_contract_with_signed_requests() {
    let (url, st) = s3_sim().await;
    let store: Arc<dyn FileStorePort> = Arc::new(s3_store(&url, &sim::s3::S3SimConfig::default().secret_key));
    contract(store.as_ref()).await;
    assert_eq!(st.lock().unwrap().refused, 0, "every request was signed right");
    assert!(st.lock().unwrap().objects.contains_key("reports/2026/11/0a1b2c3d.pdf.p1.png"));
    // A wrong secret: the store refuses, and we say the store is unavailable — never "absent".
    let wrong = s3_store(&url, "not-the-secret");
    let e = wrong.get("reports/2026/11/0a1b2c3d.pdf.p1.png").await.unwrap_err();
    assert_eq!(e.code, domain::ErrorCode::FileStoreUnavailable);
    assert!(wrong.put("reports/x.pdf", vec![1]).await.is_err());
    assert_eq!(st.lock().unwrap().refused, 2);
}
