//! DKIM keys of the hosted domains: generating them, storing them, loading them, and signing
//! outgoing mail with them (RFC 6376; Ed25519 per RFC 8463, RSA-SHA256 with 2048-bit keys).
//!
//! Layout on disk: `DIR/<domain>/<selector>.<ed25519|rsa>.pem`, each a PKCS#8 private key in
//! PEM, created with mode 0600 and never overwritten. The file name is the whole key
//! description, so an operator can add, rotate (new selector) or remove keys by hand.
//!
//! Keeps true:
//! - A key whose file cannot be read or parsed stops loading with an error naming the file,
//!   rather than letting mail leave silently unsigned.
//! - Signing never changes the stored message: signatures are prepended to a copy.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use mail_auth::common::crypto::{DkimKey as AuthKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Headers we sign when present (RFC 6376 §5.4.1's recommendations, From first).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    Ed25519,
    Rsa,
}

impl DkimAlgorithm {
    /// The `k=` tag of the DNS record, also used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Ed25519 => "ed25519",
            DkimAlgorithm::Rsa => "rsa",
        }
    }
    fn from_token(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            "rsa" => Some(DkimAlgorithm::Rsa),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DkimError + '_ {
    move |source| DkimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A signing key for one domain and selector.
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// Base64 of the public key, as the `p=` tag of the DNS record wants it.
    pub public_key: String,
    signer: DkimSigner<AuthKey, Done>,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    /// Builds a key from a PKCS#8 DER private key.
    pub fn from_pkcs8(
        domain: &str,
        selector: &str,
        algorithm: DkimAlgorithm,
        der: &[u8],
    ) -> Result<DkimKey, String> {
        let (key, public): (AuthKey, Vec<u8>) = match algorithm {
            DkimAlgorithm::Ed25519 => {
                let key = Ed25519Key::from_pkcs8_der(der).map_err(|e| e.to_string())?;
                // RFC 8463 §4.2: p= is the raw 32-byte public key.
                let public = key.public_key();
                (key.into(), public)
            }
            DkimAlgorithm::Rsa => {
                let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(|e| e.to_string())?;
                if pair.public_modulus_len() < 256 {
                    return Err("RSA keys must have at least 2048 bits (RFC 8301 §3.2)".into());
                }
                // RFC 6376 §3.6.1: p= is the SubjectPublicKeyInfo, base64.
                let public = aws_lc_rs::encoding::AsDer::<
                    aws_lc_rs::encoding::PublicKeyX509Der<'static>,
                >::as_der(pair.public_key())
                .map_err(|e| e.to_string())?
                .as_ref()
                .to_vec();
                let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(
                    PrivatePkcs8KeyDer::from(der),
                ))
                .map_err(|e| e.to_string())?;
                (key.into(), public)
            }
        };
        let signer = DkimSigner::from_key(key)
            .domain(domain)
            .selector(selector)
            .headers(SIGNED_HEADERS.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        Ok(DkimKey {
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_string(),
            algorithm,
            public_key: base64::engine::general_purpose::STANDARD.encode(public),
            signer,
        })
    }

    /// The TXT record to publish, as one zone-file line. Strings longer than 255 octets are
    /// split into several quoted strings on the same line (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2
    /// says they are concatenated).
    pub fn dns_record(&self) -> String {
        let value = self.dns_value();
        let quoted: Vec<String> = value
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        format!(
            "{}._domainkey.{} TXT {}",
            self.selector,
            self.domain,
            quoted.join(" ")
        )
    }

    /// The record's text, unquoted: `v=DKIM1; k=…; p=…`.
    pub fn dns_value(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.as_str(),
            self.public_key
        )
    }

    /// The `DKIM-Signature:` header field for `message`, ending in CRLF.
    pub fn signature_header(&self, message: &[u8]) -> Result<String, String> {
        let signature = self.signer.sign(message).map_err(|e| e.to_string())?;
        Ok(signature.to_header())
    }
}

/// Generates a key for `domain` under `dir` (`dir/<domain>/<selector>.<alg>.pem`, 0600) and
/// returns it. An existing file is never overwritten.
pub fn generate_dkim_key(
    dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: DkimAlgorithm,
) -> Result<DkimKey, DkimError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    check_label_chars(&domain, "domain")?;
    check_label_chars(selector, "selector")?;
    let der: Vec<u8> = match algorithm {
        DkimAlgorithm::Ed25519 => {
            Ed25519Key::generate_pkcs8().map_err(|e| DkimError::Invalid(e.to_string()))?
        }
        DkimAlgorithm::Rsa => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|e| DkimError::Invalid(format!("RSA key generation: {e}")))?;
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair)
                .map_err(|e| DkimError::Invalid(format!("RSA key encoding: {e}")))?
                .as_ref()
                .to_vec()
        }
    };
    let key =
        DkimKey::from_pkcs8(&domain, selector, algorithm, &der).map_err(DkimError::Invalid)?;
    let domain_dir = dir.join(&domain);
    std::fs::create_dir_all(&domain_dir).map_err(io_error(&domain_dir))?;
    let path = domain_dir.join(format!("{selector}.{}.pem", algorithm.as_str()));
    write_private_pem(&path, &der)?;
    Ok(key)
}

/// Selectors and domains become file names and DNS labels: letters, digits, '-', '.', '_'.
fn check_label_chars(value: &str, what: &str) -> Result<(), DkimError> {
    let ok = !value.is_empty()
        && !value.starts_with('.')
        && !value.contains("..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(DkimError::Invalid(format!(
            "{what} {value:?}: use ASCII letters, digits, '-', '_' and '.' only"
        )))
    }
}

fn write_private_pem(path: &Path, der: &[u8]) -> Result<(), DkimError> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(pem.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))?;
    Ok(())
}

/// Loads every key under `dir` (see the module doc for the layout). A missing `dir` means
/// no keys; a file that is not a key is an error naming it.
pub fn load_dkim_keys(dir: &Path) -> Result<Vec<DkimKey>, DkimError> {
    let mut keys = Vec::new();
    let domains = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut domain_dirs = Vec::new();
    for entry in domains {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_type().map_err(io_error(dir))?.is_dir() {
            domain_dirs.push(entry.path());
        }
    }
    domain_dirs.sort();
    for domain_dir in domain_dirs {
        let Some(domain) = domain_dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&domain_dir).map_err(io_error(&domain_dir))? {
            files.push(entry.map_err(io_error(&domain_dir))?.path());
        }
        files.sort();
        for path in files {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".pem") else {
                continue;
            };
            let key_error = |reason: String| DkimError::Key {
                path: path.clone(),
                reason,
            };
            let (selector, algorithm) = stem
                .rsplit_once('.')
                .and_then(|(s, a)| Some((s, DkimAlgorithm::from_token(a)?)))
                .ok_or_else(|| {
                    key_error("name it <selector>.ed25519.pem or <selector>.rsa.pem".into())
                })?;
            let pem = std::fs::read(&path).map_err(io_error(&path))?;
            let der = PrivatePkcs8KeyDer::from_pem_slice(&pem)
                .map_err(|e| key_error(format!("not a PKCS#8 PEM private key: {e}")))?;
            let key = DkimKey::from_pkcs8(domain, selector, algorithm, der.secret_pkcs8_der())
                .map_err(key_error)?;
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Prepends a `DKIM-Signature` by each key of `domain` to a copy of `message`. Keys that
/// fail to sign (a message without a From header) are logged and skipped: the message is
/// still sent, as it would be by a system without DKIM.
pub fn sign_message<'a>(
    keys: impl IntoIterator<Item = &'a DkimKey>,
    domain: &str,
    message: &[u8],
) -> Option<Vec<u8>> {
    let mut headers = String::new();
    for key in keys {
        if !key.domain.eq_ignore_ascii_case(domain) {
            continue;
        }
        match key.signature_header(message) {
            Ok(header) => headers.push_str(&header),
            Err(error) => {
                tracing::warn!(%error, domain, selector = %key.selector, "dkim: cannot sign");
            }
        }
    }
    if headers.is_empty() {
        return None;
    }
    let mut signed = Vec::with_capacity(headers.len() + message.len());
    signed.extend_from_slice(headers.as_bytes());
    signed.extend_from_slice(message);
    Some(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_back_and_sign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ed = generate_dkim_key(dir.path(), "Tinh.Gov.VN", "s1-ed", DkimAlgorithm::Ed25519)
            .expect("ed25519");
        let rsa = generate_dkim_key(dir.path(), "tinh.gov.vn", "s1-rsa", DkimAlgorithm::Rsa)
            .expect("rsa");
        assert!(
            ed.dns_record()
                .starts_with("s1-ed._domainkey.tinh.gov.vn TXT \"v=DKIM1; k=ed25519; p=")
        );
        assert!(rsa.dns_value().starts_with("v=DKIM1; k=rsa; p=MII"));
        // The RSA record is longer than one TXT string: split, still one line.
        assert!(rsa.dns_record().contains("\" \"") && !rsa.dns_record().contains('\n'));
        // Never overwritten.
        assert!(
            generate_dkim_key(dir.path(), "tinh.gov.vn", "s1-ed", DkimAlgorithm::Ed25519).is_err()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tinh.gov.vn/s1-ed.ed25519.pem"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let keys = load_dkim_keys(dir.path()).expect("load");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].public_key, ed.public_key);
        assert_eq!(keys[1].public_key, rsa.public_key);
        let msg = b"From: a@tinh.gov.vn\r\nTo: b@x.vn\r\nSubject: hi\r\n\r\nbody\r\n";
        let signed = sign_message(&keys, "TINH.gov.vn", msg).expect("signed");
        let text = String::from_utf8(signed).expect("utf8");
        assert_eq!(text.matches("DKIM-Signature:").count(), 2);
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
        assert!(sign_message(&keys, "other.vn", msg).is_none());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("x.vn")).expect("mkdir");
        std::fs::write(dir.path().join("x.vn/sel.rsa.pem"), "garbage").expect("write");
        let err = load_dkim_keys(dir.path()).expect_err("must fail");
        assert!(err.to_string().contains("sel.rsa.pem"), "{err}");
        assert!(
            load_dkim_keys(&dir.path().join("absent"))
                .expect("ok")
                .is_empty()
        );
        assert!(generate_dkim_key(dir.path(), "../etc", "s", DkimAlgorithm::Ed25519).is_err());
    }
}
