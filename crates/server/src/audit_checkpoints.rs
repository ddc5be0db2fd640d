//! Signed checkpoints of the audit chain's head (S11). The hash chain finds a row edited,
//! removed or reordered in the middle, but not rows cut from the end: the shorter chain is
//! still a valid chain. A checkpoint — the head's sequence number and hash, the time, signed
//! with an SM2 key — is appended as one JSON line to a file the database's users cannot
//! rewrite (and logged); `audit verify` then requires the last checkpoint's row to be in the
//! chain with the same hash.
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The SM2 signer id (ZA) of checkpoint signatures.
const SIGNER_ID: &str = "carebridge-audit";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The signer's public key (Base64, uncompressed point).
    pub key: String,
    /// SM2 signature (Base64, r‖s) over `signed_text`.
    pub sig: String,
}

fn signed_text(seq: i64, hash: &str, at: &str) -> String {
    format!("carebridge-audit-checkpoint|{seq}|{hash}|{at}")
}

/// The signing key: the configured one, or one made on first use and kept beside the file.
pub fn signer(configured_b64: &str, file: &Path) -> Result<Sm2Signer> {
    if !configured_b64.trim().is_empty() {
        let bytes = B64.decode(configured_b64.trim()).map_err(|_| anyhow!("invalid setting `audit.signing_key`: not Base64"))?;
        return Sm2Signer::from_secret_bytes(SIGNER_ID, &bytes).map_err(|e| anyhow!("invalid setting `audit.signing_key`: {e}"));
    }
    let key_file = key_path(file);
    if let Ok(text) = std::fs::read_to_string(&key_file) {
        let bytes = B64.decode(text.trim()).with_context(|| format!("{} is not Base64", key_file.display()))?;
        return Sm2Signer::from_secret_bytes(SIGNER_ID, &bytes).map_err(|e| anyhow!("{}: {e}", key_file.display()));
    }
    let signer = Sm2Signer::generate(SIGNER_ID);
    if let Some(dir) = key_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&key_file).with_context(|| format!("creating {}", key_file.display()))?;
    writeln!(f, "{}", B64.encode(signer.secret_bytes()))?;
    Ok(signer)
}

fn key_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Signs the head and appends it to the file (synced before returning).
pub fn append(file: &Path, signer: &Sm2Signer, seq: i64, hash: &str, at: chrono::DateTime<chrono::Utc>) -> Result<Checkpoint> {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let sig = signer.sign(signed_text(seq, hash, &at).as_bytes());
    let c = Checkpoint { seq, hash: hash.to_owned(), at, key: B64.encode(signer.public_key_bytes()), sig: B64.encode(sig) };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(file).with_context(|| format!("opening {}", file.display()))?;
    writeln!(f, "{}", serde_json::to_string(&c)?)?;
    f.sync_all()?;
    Ok(c)
}

/// Appends a checkpoint of the chain's head unless the head is still `*last` (or the chain
/// is empty); logs it on the `audit_checkpoint` target as well.
pub async fn checkpoint_if_moved(store: &store::Store, file: &Path, signer: &Sm2Signer, last: &mut Option<i64>) -> Result<Option<Checkpoint>> {
    let Some((seq, hash)) = store.audit_head().await.map_err(|e| anyhow!("audit head: {}", e.detail))? else {
        return Ok(None);
    };
    if *last == Some(seq) {
        return Ok(None);
    }
    let c = append(file, signer, seq, &hash, chrono::Utc::now())?;
    tracing::info!(target: "audit_checkpoint", seq = c.seq, hash = %c.hash, at = %c.at, "audit chain checkpoint");
    *last = Some(seq);
    Ok(Some(c))
}

/// While the node serves: a checkpoint every `minutes` when the chain moved.
pub fn spawn_periodic(store: store::Store, file: PathBuf, signer: std::sync::Arc<Sm2Signer>, minutes: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(minutes * 60);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut last = None;
        loop {
            every.tick().await;
            if let Err(e) = checkpoint_if_moved(&store, &file, &signer, &mut last).await {
                tracing::error!(error = %e, "audit checkpoint failed");
            }
        }
    })
}

/// Every checkpoint in the file, each signature checked, all by one key; the last one.
/// `None` when there is no file.
pub fn last_verified(file: &Path) -> Result<Option<(Checkpoint, usize)>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let mut last: Option<Checkpoint> = None;
    let mut count = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let c: Checkpoint = serde_json::from_str(line).with_context(|| format!("{} line {}: not a checkpoint", file.display(), n + 1))?;
        if let Some(prev) = &last {
            if c.key != prev.key {
                bail!("{} line {}: signed by another key than the lines before", file.display(), n + 1);
            }
            if c.seq < prev.seq {
                bail!("{} line {}: the chain head went backwards ({} after {})", file.display(), n + 1, c.seq, prev.seq);
            }
        }
        let key = B64.decode(&c.key).map_err(|_| anyhow!("{} line {}: key not Base64", file.display(), n + 1))?;
        let sig = B64.decode(&c.sig).map_err(|_| anyhow!("{} line {}: signature not Base64", file.display(), n + 1))?;
        Sm2Verifier::from_public_key_bytes(SIGNER_ID, &key)
            .and_then(|v| v.verify(signed_text(c.seq, &c.hash, &c.at).as_bytes(), &sig))
            .map_err(|_| anyhow!("{} line {}: signature does not verify", file.display(), n + 1))?;
        count += 1;
        last = Some(c);
    }
    Ok(last.map(|c| (c, count)))
}

/// A short fingerprint of the signing key, for the auditor to compare with the one on record.
pub fn fingerprint(key_b64: &str) -> String {
    let bytes = B64.decode(key_b64).unwrap_or_default();
    crypto::sm3::digest(&bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        std::env::temp_dir().join(format!("cb-ckpt-{}", uuid::Uuid::new_v4().simple())).join("audit-checkpoints.log")
    }

    #[test]
    fn checkpoints_verify_and_a_forged_or_foreign_line_is_refused() {
        let file = tmp();
        assert_eq!(last_verified(&file).unwrap(), None, "no file: nothing to compare");
        let s = signer("", &file).unwrap();
        append(&file, &s, 5, "aa", chrono::Utc::now()).unwrap();
        append(&file, &s, 9, "bb", chrono::Utc::now()).unwrap();
        let (last, n) = last_verified(&file).unwrap().unwrap();
        assert_eq!((last.seq, last.hash.as_str(), n), (9, "bb", 2));
        // The same key comes back from the key file.
        assert_eq!(signer("", &file).unwrap().public_key_bytes(), s.public_key_bytes());
        // Editing a checkpoint (moving the head back) breaks its signature.
        let text = std::fs::read_to_string(&file).unwrap().replace("\"seq\":9", "\"seq\":4");
        std::fs::write(&file, text).unwrap();
        assert!(last_verified(&file).unwrap_err().to_string().contains("line 2"));
        // A line signed by another key is refused.
        std::fs::remove_file(&file).unwrap();
        append(&file, &s, 5, "aa", chrono::Utc::now()).unwrap();
        append(&file, &Sm2Signer::generate(SIGNER_ID), 6, "cc", chrono::Utc::now()).unwrap();
        assert!(last_verified(&file).unwrap_err().to_string().contains("another key"));
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}
