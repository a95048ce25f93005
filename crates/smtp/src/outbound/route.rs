//! Where mail for a domain goes: RFC 5321 §5.1 MX resolution with hickory-resolver.
//!
//! Keeps true:
//! - Hosts are tried in MX preference order (lowest first); each host's addresses in the
//!   order DNS gave them.
//! - No MX record (NODATA) means the domain itself is the one host (the "implicit MX",
//!   RFC 5321 §5.1); a domain that does not exist, or has neither MX nor address, is a
//!   permanent failure.
//! - A null MX (RFC 7505 §3: one record `0 .`) is a permanent failure, `5.1.10`.
//! - DNS trouble (timeouts, SERVFAIL) is temporary: the message stays queued.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHost {
    /// The name we connect to (for logs, `Remote-MTA` and TLS SNI).
    pub name: String,
    pub addrs: Vec<SocketAddr>,
}

/// Hosts to try in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub hosts: Vec<RouteHost>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No mail can ever be delivered there (RFC 3463 status given).
    #[error("{status} {reason}")]
    Permanent {
        status: &'static str,
        reason: String,
    },
    #[error("{status} {reason}")]
    Temporary {
        status: &'static str,
        reason: String,
    },
}

/// Builds the resolver: the configured server when given, otherwise the system's.
pub fn build_resolver(dns: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let builder = match dns {
        Some(server) => {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut ns.connections {
                connection.port = server.port();
            }
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                provider,
            );
            let opts: &mut ResolverOpts = builder.options_mut();
            opts.attempts = 2;
            builder
        }
        None => TokioResolver::builder(provider).map_err(|e| e.to_string())?,
    };
    builder.build().map_err(|e| e.to_string())
}

fn temporary(e: &NetError, what: &str) -> RouteError {
    RouteError::Temporary {
        status: "4.4.3",
        reason: format!("DNS lookup of {what} failed: {e}"),
    }
}

/// Resolves where mail for `domain` goes; `port` is the SMTP port to use.
pub async fn resolve_route(
    resolver: &TokioResolver,
    domain: &str,
    port: u16,
) -> Result<Route, RouteError> {
    // An address literal (RFC 5321 §4.1.3) needs no DNS.
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ip: IpAddr = literal
            .strip_prefix("IPv6:")
            .unwrap_or(literal)
            .parse()
            .map_err(|_| RouteError::Permanent {
                status: "5.1.2",
                reason: format!("bad address literal {domain}"),
            })?;
        return Ok(Route {
            hosts: vec![RouteHost {
                name: ip.to_string(),
                addrs: vec![SocketAddr::new(ip, port)],
            }],
        });
    }
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    let mut exchanges: Vec<(u16, String)> = match resolver.mx_lookup(fqdn.as_str()).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                _ => None,
            })
            .collect(),
        Err(e) if e.is_nx_domain() => {
            return Err(RouteError::Permanent {
                status: "5.1.2",
                reason: format!("domain {domain} does not exist"),
            });
        }
        Err(e) if e.is_no_records_found() => Vec::new(),
        Err(e) => return Err(temporary(&e, &format!("MX {domain}"))),
    };
    // RFC 7505 §3: a null MX is the only MX record, preference 0, exchange ".".
    if exchanges
        .iter()
        .any(|(_, host)| host == "." || host.is_empty())
    {
        return Err(RouteError::Permanent {
            status: "5.1.10",
            reason: format!("domain {domain} accepts no mail (null MX, RFC 7505)"),
        });
    }
    if exchanges.is_empty() {
        // RFC 5321 §5.1: no MX, so the domain itself is the implicit MX.
        exchanges.push((0, fqdn.clone()));
    }
    exchanges.sort_by_key(|(preference, _)| *preference);
    let mut hosts = Vec::with_capacity(exchanges.len());
    let mut last_error = None;
    for (_, host) in exchanges {
        match resolver.lookup_ip(host.as_str()).await {
            Ok(ips) => {
                let addrs: Vec<SocketAddr> =
                    ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                if !addrs.is_empty() {
                    hosts.push(RouteHost {
                        name: host.trim_end_matches('.').to_string(),
                        addrs,
                    });
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                last_error = Some(RouteError::Permanent {
                    status: "5.1.2",
                    reason: format!("mail host {host} of {domain} has no address"),
                });
            }
            Err(e) => last_error = Some(temporary(&e, &format!("address of {host}"))),
        }
    }
    if hosts.is_empty() {
        return Err(last_error.unwrap_or(RouteError::Permanent {
            status: "5.1.2",
            reason: format!("no mail host for {domain}"),
        }));
    }
    Ok(Route { hosts })
}
