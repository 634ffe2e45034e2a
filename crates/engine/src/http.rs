//! The outbound HTTP client, with a guard against server-side request forgery (SSRF).
//!
//! Every call Switchboard makes to a provider (token endpoint, revocation, userinfo,
//! JWKS, discovery, the API proxy and webhook delivery) goes through
//! [`Outbound`]. Two checks keep those calls on the public internet unless the operator
//! says otherwise:
//!
//! - [`Outbound::check`] runs before a request: http or https only, plain http only in
//!   development or to an allowed host, no credentials in the URL, and an IP-literal host
//!   must be public (reqwest does not call the resolver for IP literals).
//! - The client's DNS resolver drops every non-public address after resolution, so a name
//!   that resolves (or re-resolves, as in DNS rebinding) to `127.0.0.1`,
//!   `169.254.169.254` or a private range is never connected to.
//!
//! Redirects are never followed: a `3xx` is returned to the caller as it is.
//!
//! Errors never contain a URL's query string or userinfo (either may hold a token); they
//! show `scheme://host[:port]/path` only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where outbound calls may go.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// `serve --dev`: loopback and private addresses allowed, and http:// to them.
    pub dev: bool,
    /// Hosts (exact names, or IP literals) that may resolve to loopback/private addresses
    /// and may use http:// (config `allow_hosts`).
    pub allow_hosts: Vec<String>,
}

impl HostPolicy {
    /// Whether `host` (a name or an IP literal, IPv6 with or without brackets) may reach
    /// non-public addresses and use plain http: always in dev, else when it is listed in
    /// `allow_hosts` (names compared case-insensitively, without a trailing dot; IP
    /// literals compared as addresses).
    pub fn allows(&self, host: &str) -> bool {
        if self.dev {
            return true;
        }
        let host = normalize_host(host);
        let host_ip = host.parse::<IpAddr>().ok();
        self.allow_hosts.iter().any(|h| {
            let h = normalize_host(h);
            match (host_ip, h.parse::<IpAddr>().ok()) {
                (Some(a), Some(b)) => canonical(a) == canonical(b),
                _ => h.eq_ignore_ascii_case(&host),
            }
        })
    }
}

fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// An IPv4-mapped IPv6 address as its IPv4 address; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether an IP address is public, i.e. usable without an allowance: not loopback,
/// private (RFC 1918), link-local (including `169.254.169.254`), shared/CGNAT
/// (`100.64.0.0/10`), unique-local (`fc00::/7`), unspecified, multicast, broadcast,
/// reserved, benchmarking or documentation space. IPv6 addresses that embed an IPv4
/// address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
/// judged by that IPv4 address; Teredo (`2001::/32`) is refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(ip) & mask) == (u32::from_be_bytes(net) & mask)
    };
    !(o[0] == 0 // "this network", including 0.0.0.0
        || o[0] == 10
        || o[0] == 127
        || in_net([100, 64, 0, 0], 10) // shared address space (CGNAT)
        || in_net([169, 254, 0, 0], 16) // link-local, cloud metadata
        || in_net([172, 16, 0, 0], 12)
        || in_net([192, 0, 0, 0], 24) // IETF protocol assignments
        || in_net([192, 0, 2, 0], 24) // TEST-NET-1
        || in_net([192, 88, 99, 0], 24) // 6to4 relay anycast
        || in_net([192, 168, 0, 0], 16)
        || in_net([198, 18, 0, 0], 15) // benchmarking
        || in_net([198, 51, 100, 0], 24) // TEST-NET-2
        || in_net([203, 0, 113, 0], 24) // TEST-NET-3
        || o[0] >= 224) // multicast 224/4, reserved 240/4, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_low =
        || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    // ::/96: unspecified, loopback and the deprecated IPv4-compatible addresses.
    if s[..6].iter().all(|&x| x == 0) {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded_low());
    }
    // NAT64 well-known prefix: the IPv4 address it reaches decides.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_low());
    }
    // 6to4: 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(v4);
    }
    let prefix = |net: u16, mask: u16| s[0] & mask == net;
    !(prefix(0xfc00, 0xfe00) // unique local fc00::/7
        || prefix(0xfe80, 0xffc0) // link-local fe80::/10
        || prefix(0xfec0, 0xffc0) // site-local (deprecated) fec0::/10
        || prefix(0xff00, 0xff00) // multicast ff00::/8
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // NAT64 local use 64:ff9b:1::/48
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
        || (s[0] == 0x2001 && (s[1] & 0xffe0) == 0x0020) // ORCHIDv2 2001:20::/28
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // ORCHID 2001:10::/28
        || (s[0] & 0xfff0) == 0x3ff0) // documentation 3fff::/20
}

/// A URL as it may appear in an error or a log line: `scheme://host[:port]/path`, without
/// userinfo, query or fragment (they may hold credentials or tokens).
pub fn redact(url: &url::Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path())
}

/// Why an outbound call was refused or failed. Messages say what to do next and never
/// contain a query string, userinfo or a response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// The HTTP client could not be built (TLS roots, resolver).
    #[error("cannot build the outbound HTTP client: {0}")]
    Client(String),
    /// The text is not an absolute URL.
    #[error("outbound URL is not a valid absolute URL ({0}); check the configured endpoint")]
    InvalidUrl(String),
    /// A scheme other than http or https.
    #[error(
        "outbound URL {url} uses scheme {scheme:?}; only https (and http in development) is allowed"
    )]
    Scheme {
        /// The redacted URL.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// Plain http to a host that is neither allowed nor used in development.
    #[error(
        "outbound URL {url} uses plain http; use https, or add the host to `allow_hosts` (or run `serve --dev`) if this is intended"
    )]
    InsecureHttp {
        /// The redacted URL.
        url: String,
    },
    /// The URL carries `user:password@`.
    #[error(
        "outbound URL {url} carries credentials (user:password@); remove them from the URL and configure the credentials separately"
    )]
    Userinfo {
        /// The redacted URL (without the credentials).
        url: String,
    },
    /// An IP-literal host that is not public.
    #[error(
        "outbound URL {url} names a non-public address (loopback, private, link-local…); add the host to `allow_hosts` if this is intended"
    )]
    NonPublicAddress {
        /// The redacted URL.
        url: String,
    },
    /// A host name that resolves only to non-public addresses.
    #[error(
        "host {host} resolves only to non-public addresses (loopback, private, link-local…); add it to `allow_hosts` if this is intended"
    )]
    NonPublicHost {
        /// The host name.
        host: String,
    },
    /// The host name does not resolve.
    #[error("cannot resolve host {host}: {reason}; check the host name and DNS")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// The request did not complete in time.
    #[error("request to {url} timed out; the provider may be down or unreachable, try again later")]
    Timeout {
        /// The redacted URL.
        url: String,
    },
    /// No connection could be made.
    #[error("cannot connect to {url}: {reason}; check the URL and that the provider is reachable")]
    Connect {
        /// The redacted URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request failed after connecting (TLS, protocol, body).
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The redacted URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The response body is larger than the caller accepts.
    #[error("response from {url} is larger than {limit} bytes; refusing it")]
    TooLarge {
        /// The redacted URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
}

impl OutboundError {
    /// Maps a reqwest error for a request to `url`: the guard's own refusal (raised in
    /// the resolver) comes back as itself; other errors keep only their kind and causes,
    /// never the URL's query.
    pub fn from_reqwest(url: &url::Url, e: reqwest::Error) -> Self {
        let target = redact(url);
        let (timeout, connect) = (e.is_timeout(), e.is_connect());
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        let mut reasons = Vec::new();
        while let Some(c) = cause {
            if let Some(own) = c.downcast_ref::<OutboundError>() {
                match own {
                    OutboundError::NonPublicHost { host } => {
                        return OutboundError::NonPublicHost { host: host.clone() };
                    }
                    OutboundError::Resolve { host, reason } => {
                        return OutboundError::Resolve {
                            host: host.clone(),
                            reason: reason.clone(),
                        };
                    }
                    _ => {}
                }
            }
            let text = c.to_string();
            if !reasons.contains(&text) {
                reasons.push(text);
            }
            cause = c.source();
        }
        let reason = if reasons.is_empty() {
            e.without_url().to_string()
        } else {
            reasons.join(": ")
        };
        if timeout {
            OutboundError::Timeout { url: target }
        } else if connect {
            OutboundError::Connect {
                url: target,
                reason,
            }
        } else {
            OutboundError::Request {
                url: target,
                reason,
            }
        }
    }
}

/// A response read in full (up to a size limit).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

/// The outbound HTTP client and its host policy; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<HostPolicy>,
}

/// Connect timeout of every outbound call (the total timeout is given to [`Outbound::new`]).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Outbound {
    /// Builds the client for `policy`, with `timeout` as the total time of one request.
    pub fn new(policy: HostPolicy, timeout: Duration) -> Result<Self, OutboundError> {
        let policy = Arc::new(policy);
        let resolver = GuardedResolver {
            policy: policy.clone(),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            // A proxy would resolve the target itself, past the guard.
            .no_proxy()
            .dns_resolver(resolver)
            .build()
            .map_err(|e| OutboundError::Client(e.without_url().to_string()))?;
        Ok(Self { client, policy })
    }

    /// The reqwest client: redirects not followed, the total timeout, a connect timeout,
    /// user agent `switchboard/<version>`, no proxy, and a resolver that drops every
    /// non-public address unless the host is allowed. Call [`Outbound::check`] on every
    /// URL before requesting it: IP literals do not go through the resolver.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The host policy.
    pub fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// Checks a URL before it is requested: http or https only; http only in dev or when
    /// the host is in `allow_hosts`; no userinfo; an IP-literal host must be public unless
    /// allowed. Returns the parsed URL.
    pub fn check(&self, url: &str) -> Result<url::Url, OutboundError> {
        let parsed = url::Url::parse(url).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        let scheme = parsed.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(OutboundError::Scheme {
                url: redact(&parsed),
                scheme: scheme.chars().take(16).collect(),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OutboundError::Userinfo {
                url: redact(&parsed),
            });
        }
        let host = parsed
            .host()
            .ok_or_else(|| OutboundError::InvalidUrl("no host".to_owned()))?;
        let host_text = match host {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let allowed = self.policy.allows(&host_text);
        if scheme == "http" && !allowed {
            return Err(OutboundError::InsecureHttp {
                url: redact(&parsed),
            });
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal
            && !allowed
            && !is_public(ip)
        {
            return Err(OutboundError::NonPublicAddress {
                url: redact(&parsed),
            });
        }
        Ok(parsed)
    }

    /// Checks `url`, GETs it (with `timeout` instead of the client's, if given) and reads
    /// the body up to `max_bytes`. Any status is returned; redirects are not followed.
    pub async fn get_limited(
        &self,
        url: &str,
        timeout: Option<Duration>,
        max_bytes: usize,
    ) -> Result<Fetched, OutboundError> {
        let parsed = self.check(url)?;
        let mut req = self
            .client
            .get(parsed.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        read_limited(req, &parsed, max_bytes).await
    }

    /// Checks `url`, POSTs `body` as JSON to it and reads the answer up to `max_bytes`.
    /// Any status is returned; redirects are not followed. The body may hold a secret:
    /// no error message includes it (only the redacted URL).
    pub async fn post_json_limited(
        &self,
        url: &str,
        body: &serde_json::Value,
        max_bytes: usize,
    ) -> Result<Fetched, OutboundError> {
        let parsed = self.check(url)?;
        let req = self
            .client
            .post(parsed.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        read_limited(req, &parsed, max_bytes).await
    }
}

/// Sends `req` and reads its answer up to `max_bytes`.
async fn read_limited(
    req: reqwest::RequestBuilder,
    parsed: &url::Url,
    max_bytes: usize,
) -> Result<Fetched, OutboundError> {
    {
        let parsed = parsed.clone();
        let mut resp = req
            .send()
            .await
            .map_err(|e| OutboundError::from_reqwest(&parsed, e))?;
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(OutboundError::TooLarge {
                url: redact(&parsed),
                limit: max_bytes,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| OutboundError::from_reqwest(&parsed, e))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(OutboundError::TooLarge {
                    url: redact(&parsed),
                    limit: max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { status, body })
    }
}

/// Resolves with tokio and keeps only the addresses the policy allows.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<HostPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = policy.allows(&host);
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(OutboundError::Resolve {
                        host: host.clone(),
                        reason: e.to_string(),
                    }) as Box<dyn std::error::Error + Send + Sync>
                })?;
            let found: Vec<SocketAddr> = found.collect();
            if found.is_empty() {
                return Err(Box::new(OutboundError::Resolve {
                    host,
                    reason: "no addresses".to_owned(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allowed || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                tracing::warn!(host = %host, "outbound call refused: host resolves only to non-public addresses");
                return Err(Box::new(OutboundError::NonPublicHost { host })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// A `Retry-After` value as a delay from `now`: delay seconds, or an HTTP date (RFC 9110
/// §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms); a date in the past
/// is no delay, and anything longer than a year is a year (callers cap it lower). `None`
/// when it is neither. Shared by the proxy and the delivery worker.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    const YEAR: Duration = Duration::from_secs(86_400 * 365);
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(v.parse::<u64>().map_or(YEAR, Duration::from_secs).min(YEAR));
    }
    let at = if let Ok(d) = DateTime::parse_from_rfc2822(v) {
        d.with_timezone(&Utc)
    } else {
        ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())?
            .and_utc()
    };
    Some((at - now).to_std().unwrap_or(Duration::ZERO).min(YEAR))
}
