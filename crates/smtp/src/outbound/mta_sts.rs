//! MTA-STS (RFC 8461): a recipient domain's published demand that mail reach it only over
//! authenticated TLS, to the MX hosts it lists.
//!
//! Keeps true:
//! - Discovery is the `_mta-sts.<domain>` TXT record (`v=STSv1; id=…`, RFC 8461 §3.1); the
//!   policy is fetched from `https://mta-sts.<domain>/.well-known/mta-sts.txt` (§3.3) with a
//!   certificate verified against the system roots (plus `[outbound] mta_sts_ca_file`), no
//!   redirects followed, only a 200 answer, at most 64 KiB, within a minute.
//! - Policies are cached in memory per domain until `max_age`, refetched only when the TXT
//!   `id` changes (§5.1); when discovery or fetching fails, an unexpired cached policy still
//!   applies (§5.1), so an attacker who blocks DNS or HTTPS cannot switch enforcement off for
//!   a domain we have seen. The TXT record itself is looked up at most once a minute per domain.
//! - `enforce`: only MX hosts matching an `mx` pattern are used and their certificates are
//!   verified against the roots and the MX name (§4.1, §4.2, §5); failures are temporary.
//!   `testing`: the same checks only log (§5.2). `none`: nothing.
//! - A malformed policy is treated as no policy (§3.2), and said in the log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// RFC 8461 §3.2: max_age is at most one year (31557600 s).
const MAX_AGE_LIMIT: u64 = 31_557_600;
/// Policies are small; RFC 8461 §3.3 suggests a 64 KiB limit.
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// RFC 8461 §3.3: senders SHOULD give up after at least a minute.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the `_mta-sts` TXT record is looked up again per domain.
const RECHECK: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns, lower case: `mx.example.com` or `*.example.com`.
    pub mx: Vec<String>,
    pub max_age: u64,
}

impl Policy {
    /// Does `host` match one of the `mx` patterns (RFC 8461 §4.1)? A leading `*.` matches
    /// exactly one label; comparison ignores case and a trailing dot.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => *pattern == host,
            })
    }
}

/// Parses a policy body (RFC 8461 §3.2): `key: value` lines ending in CRLF or LF.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("line without a colon: {line:?}"));
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("unknown mode {other:?}")),
                })
            }
            "max_age" => {
                let age: u64 = value
                    .parse()
                    .ok()
                    .filter(|age| *age <= MAX_AGE_LIMIT)
                    .ok_or_else(|| format!("max_age {value:?} is not 0..{MAX_AGE_LIMIT}"))?;
                max_age = Some(age);
            }
            "mx" => {
                let pattern = value.trim_end_matches('.').to_ascii_lowercase();
                if pattern.is_empty()
                    || pattern[pattern.starts_with("*.") as usize * 2..].contains('*')
                {
                    return Err(format!("bad mx pattern {value:?}"));
                }
                mx.push(pattern);
            }
            // §3.2: unknown fields are ignored.
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no `version: STSv1`".into());
    }
    let mode = mode.ok_or("no mode")?;
    let max_age = max_age.ok_or("no max_age")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("no mx pattern".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// The `id` of a `_mta-sts` TXT record (RFC 8461 §3.1), or `None` when it is not one.
pub fn parse_txt(text: &str) -> Option<String> {
    let mut fields = text.split(';').map(str::trim);
    if fields.next()? != "v=STSv1" {
        return None;
    }
    fields
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| k.trim() == "id")
        .map(|(_, v)| v.trim().to_string())
        .filter(|id| (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

struct Cached {
    id: String,
    policy: Option<Policy>,
    expires: Instant,
    checked: Instant,
}

/// Discovers, fetches and caches policies.
pub struct MtaSts {
    resolver: TokioResolver,
    tls: tokio_rustls::TlsConnector,
    /// The verified-TLS connector for MX hosts of enforced domains (same roots).
    pub verified: Arc<tokio_rustls::TlsConnector>,
    /// For `testing` domains: verifies the same way but only logs a failure (RFC 8461 §5.2).
    pub audited: Arc<tokio_rustls::TlsConnector>,
    https_port: u16,
    cache: Mutex<HashMap<String, Cached>>,
}

/// The system roots plus the PEM certificates of `ca_file` (for private CAs and tests).
fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("mta_sts_ca_file {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("mta_sts_ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "mta_sts_ca_file {}: no certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("mta_sts_ca_file {}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

/// Verifies like rustls's WebPKI verifier, but a failure is only logged and the handshake goes
/// on: MTA-STS `testing` mode asks senders to deliver anyway and report (RFC 8461 §5.2).
#[derive(Debug)]
struct LoggingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for LoggingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Err(error) = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            tracing::warn!(host = ?server_name, %error, "outbound: MTA-STS testing: the MX certificate would fail (delivering anyway)");
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl MtaSts {
    pub fn new(
        resolver: TokioResolver,
        ca_file: Option<&Path>,
        https_port: u16,
    ) -> Result<MtaSts, String> {
        let roots = Arc::new(roots(ca_file)?);
        let config = Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots.clone())
                .with_no_client_auth(),
        );
        let inner = rustls::client::WebPkiServerVerifier::builder(roots)
            .build()
            .map_err(|e| format!("MTA-STS verifier: {e}"))?;
        let audited = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LoggingVerifier { inner }))
            .with_no_client_auth();
        Ok(MtaSts {
            resolver,
            tls: tokio_rustls::TlsConnector::from(config.clone()),
            verified: Arc::new(tokio_rustls::TlsConnector::from(config)),
            audited: Arc::new(tokio_rustls::TlsConnector::from(Arc::new(audited))),
            https_port,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policy in force for `domain`, if any.
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        let cached_policy = |cache: &HashMap<String, Cached>| {
            cache
                .get(&domain)
                .filter(|c| c.expires > now)
                .and_then(|c| c.policy.clone())
        };
        {
            let cache = self.cache();
            if let Some(c) = cache.get(&domain)
                && now.duration_since(c.checked) < RECHECK
            {
                return (c.expires > now).then(|| c.policy.clone()).flatten();
            }
        }
        let id = self.discover(&domain).await;
        let Some(id) = id else {
            // §5.1: no record now, but an unexpired cached policy still holds.
            let mut cache = self.cache();
            let policy = cached_policy(&cache);
            match cache.get_mut(&domain) {
                Some(c) => c.checked = now,
                None => {
                    cache.insert(
                        domain.clone(),
                        Cached {
                            id: String::new(),
                            policy: None,
                            expires: now,
                            checked: now,
                        },
                    );
                }
            }
            return policy;
        };
        {
            let mut cache = self.cache();
            if let Some(c) = cache.get_mut(&domain)
                && c.id == id
                && c.expires > now
            {
                c.checked = now;
                return c.policy.clone();
            }
        }
        match self.fetch(&domain).await {
            Ok(policy) => {
                tracing::info!(%domain, %id, mode = ?policy.mode, "outbound: MTA-STS policy fetched");
                let expires = now + Duration::from_secs(policy.max_age);
                self.cache().insert(
                    domain,
                    Cached {
                        id,
                        policy: Some(policy.clone()),
                        expires,
                        checked: now,
                    },
                );
                Some(policy)
            }
            Err(error) => {
                tracing::warn!(%domain, %error, "outbound: MTA-STS policy not fetched");
                let mut cache = self.cache();
                if let Some(c) = cache.get_mut(&domain) {
                    c.checked = now;
                }
                cached_policy(&cache)
            }
        }
    }

    async fn discover(&self, domain: &str) -> Option<String> {
        let name = format!("_mta-sts.{domain}.");
        let lookup = self.resolver.txt_lookup(name.as_str()).await.ok()?;
        let ids: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                hickory_resolver::proto::rr::RData::TXT(txt) => {
                    let text: String = txt
                        .txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).to_string())
                        .collect();
                    text.starts_with("v=STSv1").then_some(text)
                }
                _ => None,
            })
            .collect();
        // §3.1: several STSv1 records mean no policy.
        match ids.as_slice() {
            [one] => parse_txt(one),
            _ => None,
        }
    }

    /// GET https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.3).
    async fn fetch(&self, domain: &str) -> Result<Policy, String> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_inner(domain))
            .await
            .map_err(|_| "no answer within a minute".to_string())?
    }

    async fn fetch_inner(&self, domain: &str) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let ips = self
            .resolver
            .lookup_ip(format!("{host}.").as_str())
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let addrs: Vec<SocketAddr> = ips
            .iter()
            .map(|ip| SocketAddr::new(ip, self.https_port))
            .collect();
        let tcp = tokio::net::TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{host}: TLS: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get("/.well-known/mta-sts.txt")
            .header(hyper::header::HOST, host.as_str())
            .header(hyper::header::USER_AGENT, "congvu")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        // §3.3: no redirects; only 200 is a policy.
        if response.status() != hyper::StatusCode::OK {
            driver.abort();
            return Err(format!("{host}: HTTP status {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_POLICY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{host}: body: {e}"))?
            .to_bytes();
        driver.abort();
        let text =
            std::str::from_utf8(&body).map_err(|_| format!("{host}: policy is not UTF-8"))?;
        parse_policy(text).map_err(|e| format!("{host}: bad policy: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_policy_and_matches_mx_patterns() {
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.Example.NET.\r\nmax_age: 86400\r\nextra: x\r\n",
        )
        .expect("parse");
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 86400);
        assert!(p.allows("MX1.example.com."));
        assert!(p.allows("a.example.net"));
        assert!(!p.allows("a.b.example.net"), "a wildcard is one label");
        assert!(!p.allows("example.net"));
        assert!(!p.allows("mx2.example.com"));
    }

    #[test]
    fn refuses_malformed_policies() {
        assert!(parse_policy("mode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(
            parse_policy("version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999\n").is_err()
        );
        assert!(parse_policy("version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n").is_err());
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
    }

    #[test]
    fn reads_the_txt_record() {
        assert_eq!(
            parse_txt("v=STSv1; id=20260101T000000;").as_deref(),
            Some("20260101T000000")
        );
        assert_eq!(parse_txt("v=STSv1;id=abc"), Some("abc".into()));
        assert_eq!(parse_txt("v=STSv2; id=abc"), None);
        assert_eq!(parse_txt("v=STSv1; id=a-b"), None);
    }
}
