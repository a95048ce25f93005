//! TLS material: the self-signed certificate `init` writes, and the rustls server configuration
//! every listener shares.

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Writes a self-signed certificate for `hostname` (also valid for localhost and 127.0.0.1,
/// so local clients and tests can connect) and its key (mode 0600).
pub fn write_self_signed(hostname: &str, cert_path: &Path, key_path: &Path) -> Result<()> {
    let names = vec![
        hostname.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(cert_path, certified.cert.pem())?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    Ok(())
}

/// Writes a file only its owner can read (keys, the demo's passwords).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("[tls] cert: cannot read {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "[tls] cert: {} is not a PEM certificate chain",
                cert_path.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "[tls] key: cannot read a PEM private key from {}",
            key_path.display()
        )
    })?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("[tls] cert and key do not match")?;
    Ok(Arc::new(config))
}
