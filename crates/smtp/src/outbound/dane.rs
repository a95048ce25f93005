//! DANE for SMTP (RFC 7672): TLSA records of an MX host, looked up with the DNSSEC "AD" bit,
//! and a certificate check against them.
//!
//! Trust model (like Postfix's `smtp_dns_support_level = dnssec`): we do not validate DNSSEC
//! ourselves; we trust the AD bit (RFC 4035 §3.2.3) of ONE resolver the operator named, which
//! must be a local validating resolver (unbound, knot-resolver, systemd-resolved with DNSSEC
//! on) on loopback: `[outbound] dns`, or else the system's first nameserver only if it is a
//! loopback address. An AD bit that travelled over a network could be forged, so any other
//! resolver disables DANE (RFC 7672 §2.1.1, RFC 6698 §4.1 and RFC 4033 §4.9.3).
//!
//! Keeps true:
//! - TLSA records from a DNSSEC-validated ("secure") answer make TLS mandatory for that host and
//!   the certificate must match one usable record (usages DANE-TA(2)/DANE-EE(3), selectors
//!   Cert(0)/SPKI(1), matching Full(0)/SHA2-256(1)/SHA2-512(2); RFC 7672 §3.1). A mismatch,
//!   or a host that offers no STARTTLS, is a temporary failure `4.7.5` — never plain text.
//! - Secure TLSA records that are all unusable still make TLS mandatory, unauthenticated
//!   (RFC 7672 §2.2).
//! - An insecure or authenticated-absent TLSA answer means DANE does not apply.
//! - A TLSA lookup that fails (SERVFAIL, timeout) for a host whose address records are secure
//!   defers the delivery (RFC 7672 §2.2); for an insecure host it does not matter.
//! - DANE-EE(3) ignores names and dates (RFC 7672 §3.1.1); DANE-TA(2) checks the chain from
//!   the matched certificate, the dates and the MX host name (RFC 7672 §3.1.2, §3.2.2).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// One TLSA record (RFC 6698 §2.1), kept as numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// RFC 7672 §3.1: SMTP uses only DANE-TA(2) and DANE-EE(3); PKIX usages 0/1 are unusable.
    fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3)
            && matches!(self.selector, 0 | 1)
            && matches!(self.matching, 0..=2)
    }

    /// Does `cert` match this record's selector and matching type?
    fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => cert.as_ref().to_vec(),
            1 => match webpki::EndEntityCert::try_from(cert) {
                Ok(parsed) => parsed.subject_public_key_info().as_ref().to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data,
            1 => digest::digest(&digest::SHA256, &selected).as_ref() == self.data.as_slice(),
            2 => digest::digest(&digest::SHA512, &selected).as_ref() == self.data.as_slice(),
            _ => false,
        }
    }
}

/// What DANE says about one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneLookup {
    /// No secure TLSA records: opportunistic (or MTA-STS) TLS as usual.
    NotApplicable,
    /// Secure TLSA records: TLS is mandatory and the certificate must match one of the usable
    /// ones (when none is usable, TLS is mandatory but unauthenticated).
    Records(Vec<Tlsa>),
    /// The lookup failed for a host whose addresses are secure: defer (4.7.5).
    Failed(String),
}

/// Sends the TLSA and address queries to the one trusted resolver.
#[derive(Debug, Clone)]
pub struct DaneResolver {
    server: SocketAddr,
    timeout: Duration,
}

impl DaneResolver {
    /// The configured resolver, or the system's first one when it is on loopback; `None`
    /// (DANE off) otherwise. See the module comment for why only loopback is trusted.
    pub fn for_config(dns: Option<SocketAddr>) -> Option<DaneResolver> {
        let server = match dns {
            Some(server) => server,
            None => {
                let (config, _) = hickory_resolver::system_conf::read_system_conf().ok()?;
                let ns = config.name_servers().first()?;
                SocketAddr::new(ns.ip, 53)
            }
        };
        if dns.is_none() && !server.ip().is_loopback() {
            tracing::info!(
                %server,
                "outbound: DANE is off: the system resolver is not a local validating one; set [outbound] dns"
            );
            return None;
        }
        Some(DaneResolver {
            server,
            timeout: Duration::from_secs(10),
        })
    }

    /// A resolver at `server` (tests).
    pub fn new(server: SocketAddr, timeout: Duration) -> DaneResolver {
        DaneResolver { server, timeout }
    }

    /// The TLSA records of `_<port>._tcp.<host>` (RFC 6698 §3) and what they mean for delivery.
    pub async fn lookup(&self, host: &str, port: u16) -> DaneLookup {
        let host = host.trim_end_matches('.');
        let Ok(name) = Name::from_ascii(format!("_{port}._tcp.{host}.")) else {
            return DaneLookup::NotApplicable;
        };
        match self.query(&name, RecordType::TLSA).await {
            Ok(answer)
                if matches!(
                    answer.metadata.response_code,
                    ResponseCode::NoError | ResponseCode::NXDomain
                ) =>
            {
                if !answer.metadata.authentic_data {
                    return DaneLookup::NotApplicable;
                }
                let records: Vec<Tlsa> = answer
                    .answers
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TLSA(t) => Some(Tlsa {
                            usage: u8::from(t.cert_usage),
                            selector: u8::from(t.selector),
                            matching: u8::from(t.matching),
                            data: t.cert_data.clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                if records.is_empty() {
                    DaneLookup::NotApplicable
                } else {
                    DaneLookup::Records(records.into_iter().filter(Tlsa::usable).collect())
                }
            }
            failed => {
                let why = match failed {
                    Ok(answer) => format!("answer {}", answer.metadata.response_code),
                    Err(e) => e,
                };
                // RFC 7672 §2.2: a failed TLSA lookup matters only if the host is secure.
                if self.host_is_secure(host).await {
                    DaneLookup::Failed(format!("TLSA lookup of {name} failed ({why})"))
                } else {
                    DaneLookup::NotApplicable
                }
            }
        }
    }

    async fn host_is_secure(&self, host: &str) -> bool {
        let Ok(name) = Name::from_ascii(format!("{host}.")) else {
            return false;
        };
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Ok(answer) = self.query(&name, rtype).await
                && answer.metadata.authentic_data
                && !answer.answers.is_empty()
            {
                return true;
            }
        }
        false
    }

    /// One query with RD and AD set (RFC 6840 §5.7: AD in a query asks for the AD bit) and
    /// EDNS DO (RFC 3225), over UDP, again over TCP when the answer was truncated.
    async fn query(&self, name: &Name, rtype: RecordType) -> Result<Message, String> {
        let mut message = Message::query();
        let id: u16 = rand::random();
        message.metadata.id = id;
        message.metadata.recursion_desired = true;
        message.metadata.authentic_data = true;
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_dnssec_ok(true);
        message.set_edns(edns);
        message.add_query(Query::query(name.clone(), rtype));
        let bytes = message.to_vec().map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(self.timeout, self.udp(&bytes, id))
            .await
            .map_err(|_| format!("no answer from {} in time", self.server))??;
        if !answer.metadata.truncation {
            return Ok(answer);
        }
        tokio::time::timeout(self.timeout, self.tcp(&bytes, id))
            .await
            .map_err(|_| format!("no TCP answer from {} in time", self.server))?
    }

    async fn udp(&self, query: &[u8], id: u16) -> Result<Message, String> {
        let bind: SocketAddr = if self.server.is_ipv4() {
            "0.0.0.0:0".parse().map_err(|_| "bind address")?
        } else {
            "[::]:0".parse().map_err(|_| "bind address")?
        };
        let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
        socket
            .connect(self.server)
            .await
            .map_err(|e| e.to_string())?;
        socket.send(query).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65_535];
        loop {
            let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
            // A datagram that is not our answer (late, spoofed) is skipped, not trusted.
            if let Ok(answer) = Message::from_vec(&buf[..n])
                && answer.metadata.id == id
            {
                return Ok(answer);
            }
        }
    }

    async fn tcp(&self, query: &[u8], id: u16) -> Result<Message, String> {
        let mut stream = TcpStream::connect(self.server)
            .await
            .map_err(|e| e.to_string())?;
        let len = u16::try_from(query.len()).map_err(|_| "query too long")?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        let answer = Message::from_vec(&buf).map_err(|e| e.to_string())?;
        if answer.metadata.id != id {
            return Err("DNS answer with the wrong id".into());
        }
        Ok(answer)
    }
}

/// Checks a server certificate against TLSA records.
///
/// Why a custom `ServerCertVerifier` (rustls's `danger` API): rustls's own WebPKI verifier
/// insists on a chain to configured roots and on the name, but DANE-EE(3) trusts the DNS
/// record instead of any CA and ignores names and dates, and DANE-TA(2) makes a certificate
/// of the server's own chain the trust anchor for this one connection. Neither can be said
/// to rustls through root stores; the handshake signatures are still checked by rustls's
/// normal functions below.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl DaneVerifier {
    pub fn new(records: Vec<Tlsa>) -> DaneVerifier {
        DaneVerifier {
            records,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// DANE-TA(2): `anchor` (a certificate the server sent) is trusted; the end entity must
    /// chain to it, be valid now and carry the MX host's name.
    fn chains_to(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        anchor: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> bool {
        let Ok(anchor) = webpki::anchor_from_trusted_cert(anchor) else {
            return false;
        };
        let Ok(ee) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        // The trust anchor may be the end entity itself only for DANE-EE; here it is a CA.
        ee.verify_for_usage(
            self.algorithms.all,
            &[anchor],
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .is_ok()
            && ee.verify_is_valid_for_subject_name(server_name).is_ok()
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.records.is_empty() {
            // RFC 7672 §2.2: secure but unusable records: encrypt without authentication.
            return Ok(ServerCertVerified::assertion());
        }
        for record in &self.records {
            let ok = match record.usage {
                3 => record.matches(end_entity),
                2 => intermediates.iter().any(|ca| {
                    record.matches(ca)
                        && self.chains_to(end_entity, intermediates, ca, server_name, now)
                }),
                _ => false,
            };
            if ok {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(rustls::Error::General(
            "the certificate matches none of the TLSA records (DANE, RFC 7672)".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS connector that accepts exactly the certificates `records` allow.
pub fn dane_connector(records: Vec<Tlsa>) -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(DaneVerifier::new(records)))
                .with_no_client_auth()
        });
    match config {
        Ok(config) => tokio_rustls::TlsConnector::from(Arc::new(config)),
        // The default provider always supports the default versions; if that ever changed,
        // an empty root store fails every handshake, which defers: safe.
        Err(_) => tokio_rustls::TlsConnector::from(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_smtp_usages_are_usable() {
        let t = |usage, selector, matching| Tlsa {
            usage,
            selector,
            matching,
            data: vec![],
        };
        assert!(t(3, 1, 1).usable());
        assert!(t(2, 0, 2).usable());
        assert!(!t(1, 1, 1).usable(), "PKIX-EE is not for SMTP");
        assert!(!t(0, 0, 1).usable());
        assert!(!t(3, 2, 1).usable());
        assert!(!t(3, 1, 3).usable());
    }
}
