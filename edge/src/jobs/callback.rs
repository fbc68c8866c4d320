//! Callbacks: which URLs may receive one ([`AllowedHosts`]), how each POST is signed
//! ([`sign`], [`verify`]), and when a failed delivery is tried again ([`retry_delay_s`]).
//!
//! # What a callback carries
//!
//! Each POST's body is the finished job (the `GET /api/jobs/{id}` body), with the headers
//! `x-job-id` (the job), `x-job-submitter` (its owner, the job record's `client_id` as it is:
//! `cid:` and the SHA-256 of the client's `X-Client-Id`), `x-delivery-attempt` and
//! `x-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`. The HMAC, keyed with
//! `JOB_CALLBACK_SECRET`, covers
//!
//! ```text
//! <t> LF <job id> LF <submitter> LF <body>
//! ```
//!
//! (`LF` is one line feed, byte 0x0A; the body is the raw bytes, as received). A line feed
//! separates the fields because none of the first three can hold one (the timestamp is digits,
//! a job id `job_` and hex, a submitter `cid:` and hex), so the string splits one way only.
//!
//! # Verifying one (what a receiver does, see [`verify`])
//!
//! 1. Read `t` and every `v1` from `x-signature`, `x-job-id`, `x-job-submitter` and the raw
//!    body, before parsing it.
//! 2. Refuse a `t` more than [`REPLAY_TOLERANCE_S`] (5 minutes) from the receiver's clock:
//!    every delivery, a retry included, is signed when it is sent, so the tolerance only has to
//!    cover clock skew and transit.
//! 3. Compute the HMAC of the string above with the shared secret, as lowercase hex, and
//!    compare it with each `v1` in constant time; one match passes.
//! 4. Deduplicate on `x-job-id`: deliveries are at least once, and a POST replayed within the
//!    tolerance is one more copy of the same job's result.
//!
//! A signature made for one job or one submitter fails for any other, so a receiver that
//! acts on `x-job-id` or `x-job-submitter` (or the body's `id`, which equals `x-job-id`)
//! knows the edge said so.

use crate::{
    config::host::is_loopback,
    crypto::{constant_time_eq, hmac_sha256},
    text::hex::hex,
};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-signature";
/// The header that names the job (signed).
pub const JOB_ID_HEADER: &str = "x-job-id";
/// The header that names the job's submitter, its record's `client_id` (signed).
pub const SUBMITTER_HEADER: &str = "x-job-submitter";
/// How far from the receiver's clock a signature's timestamp may be: 5 minutes.
pub const REPLAY_TOLERANCE_S: u64 = 300;
/// Deliveries per job before the callback is given up (`failed`).
pub const MAX_ATTEMPTS: u32 = 6;
/// How long one delivery holds the callback (longer than its timeout).
pub const LEASE_MS: u64 = 30_000;
/// How long the receiver has to answer one POST.
pub const TIMEOUT_MS: u64 = 10_000;
/// The longest callback URL.
pub const MAX_URL_LEN: usize = 2048;

/// What one callback signature covers: the job, who submitted it, and the POST's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload<'a> {
    pub job_id: &'a str,
    pub submitter: &'a str,
    pub body: &'a [u8],
}

impl Payload<'_> {
    /// `"<t>\n<job id>\n<submitter>\n<body>"`.
    fn signed_bytes(&self, timestamp_s: u64) -> Vec<u8> {
        let mut signed =
            format!("{timestamp_s}\n{}\n{}\n", self.job_id, self.submitter).into_bytes();
        signed.extend_from_slice(self.body);
        signed
    }

    /// The hex HMAC of this payload sent at `timestamp_s`.
    fn mac(&self, secret: &str, timestamp_s: u64) -> String {
        hex(&hmac_sha256(
            secret.as_bytes(),
            &self.signed_bytes(timestamp_s),
        ))
    }
}

/// The `x-signature` value of `payload` sent at `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: u64, payload: &Payload) -> String {
    format!("t={timestamp_s},v1={}", payload.mac(secret, timestamp_s))
}

/// What a receiver does: `Ok` when `header` signs `payload` (the job id and submitter from
/// their headers, the raw body) with `secret` and its timestamp is within `tolerance_s` of
/// `now_s`.
pub fn verify(
    secret: &str,
    header: &str,
    payload: &Payload,
    now_s: u64,
    tolerance_s: u64,
) -> Result<(), &'static str> {
    if payload.job_id.contains('\n') || payload.submitter.contains('\n') {
        return Err("a line break in the job id or submitter");
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("no timestamp")?;
    if timestamp.abs_diff(now_s) > tolerance_s {
        return Err("timestamp outside the tolerance");
    }
    let expected = payload.mac(secret, timestamp);
    let matches = |candidate: &str| constant_time_eq(candidate.as_bytes(), expected.as_bytes());
    if signatures.into_iter().any(matches) {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}

/// Seconds to wait before delivery attempt `attempt + 1` after attempt `attempt` failed:
/// `base_s`, then 4× each time; `None` once [`MAX_ATTEMPTS`] were made.
pub fn retry_delay_s(base_s: u32, attempt: u32) -> Option<u32> {
    (attempt < MAX_ATTEMPTS).then(|| {
        let factor = 4u32.saturating_pow(attempt.saturating_sub(1));
        base_s.saturating_mul(factor).min(12 * 3600)
    })
}

/// Domains under which anyone can get a name: a `*.` entry on one of them would let any of
/// their customers receive callbacks, so it is refused. Not the whole Public Suffix List:
/// the common second-level country domains, then the hosting platforms that give every
/// customer a subdomain. Single-label suffixes (`com`, `uk`) need no list: the domain of a
/// `*.` entry must have at least two labels.
const PUBLIC_SUFFIXES: &str = "\
    ac.uk co.uk gov.uk ltd.uk me.uk net.uk nhs.uk org.uk plc.uk sch.uk com.au edu.au \
    gov.au id.au net.au org.au ac.nz co.nz govt.nz net.nz org.nz ac.jp co.jp go.jp ne.jp \
    or.jp ac.kr co.kr go.kr ne.kr or.kr ac.in co.in firm.in gen.in gov.in ind.in net.in \
    org.in ac.za co.za gov.za net.za org.za com.br gov.br net.br org.br com.cn edu.cn \
    gov.cn net.cn org.cn com.hk edu.hk gov.hk net.hk org.hk com.tw edu.tw gov.tw net.tw \
    org.tw com.sg edu.sg gov.sg net.sg org.sg com.my net.my org.my com.mx gob.mx net.mx \
    org.mx com.ar gob.ar net.ar org.ar com.tr gov.tr net.tr org.tr ac.il co.il gov.il \
    net.il org.il ac.id co.id go.id or.id web.id com.ph net.ph org.ph com.vn net.vn org.vn \
    ac.th co.th go.th in.th or.th com.pk com.eg com.sa com.ng com.co com.pe com.ua com.pl \
    co.at or.at com.es com.gr co.ke eu.org \
    amplifyapp.com appspot.com azurewebsites.net blogspot.com cloudfront.net deno.dev \
    elasticbeanstalk.com firebaseapp.com fly.dev github.io gitlab.io glitch.me \
    herokuapp.com netlify.app ngrok-free.app ngrok.app ngrok.io onrender.com pages.dev \
    s3.amazonaws.com trycloudflare.com vercel.app web.app workers.dev";

/// Where callbacks may go: `JOB_CALLBACK_ALLOWED_HOSTS`, checked when it is loaded, and
/// `JOB_CALLBACK_ALLOW_LOOPBACK`. Empty: callbacks are off.
///
/// An entry is one of
/// * `hooks.example.com`: exactly that host name (at least two labels);
/// * `*.example.com`: any name under a registrable domain, not the domain itself; the domain
///   needs at least two labels and must not be in the built-in list of public suffixes
///   (`co.uk`, `com.au`, `workers.dev`, …), so `*.com` and `*.co.uk` are refused;
/// * either with `:port` (`hooks.example.com:8443`): that port only. Without one, only the
///   default port (443) is allowed;
/// * with `JOB_CALLBACK_ALLOW_LOOPBACK=true` only (development): a loopback host,
///   `localhost` (or a name under it), an address in 127.0.0.0/8 or `[::1]`. A loopback entry
///   allows `http://` as well as `https://` and, without a port, any port (a local receiver
///   takes whichever port is free).
///
/// No IP address is ever allowed otherwise, in any of the forms a URL parser reads as one
/// (`10.0.0.1`, `[fd00::1]`, `2130706433`, `0x7f000001`, `10.1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedHosts {
    entries: Vec<Entry>,
    loopback: bool,
}

/// One entry: which hosts, and the one port allowed (`None`: the default, or for a loopback
/// host any).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this name.
    Name(String),
    /// Any name ending in `.` and this domain.
    Under(String),
    /// This loopback host (only with `JOB_CALLBACK_ALLOW_LOOPBACK`).
    Loopback(String),
}

impl Entry {
    fn admits(&self, host: &str, port: Option<u16>) -> bool {
        match &self.host {
            HostPattern::Name(name) => name == host && self.port == port,
            HostPattern::Under(domain) => {
                let sub = host.strip_suffix(domain.as_str());
                sub.is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')) && self.port == port
            }
            HostPattern::Loopback(name) => {
                name == host && (self.port.is_none() || self.port == port)
            }
        }
    }
}

impl AllowedHosts {
    /// Reads a comma-separated list (see [`AllowedHosts`]); `loopback` is
    /// `JOB_CALLBACK_ALLOW_LOOPBACK`. `Err` names the entry and what is wrong with it.
    pub fn parse(list: &str, loopback: bool) -> Result<Self, String> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| parse_entry(&entry.to_ascii_lowercase(), loopback))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries, loopback })
    }

    /// Whether callbacks are off.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks a callback URL: absolute, at most [`MAX_URL_LEN`] printable characters, no user
    /// info, fragment nor backslash, `https://` to an allowed host and port (or a listed
    /// loopback host, when allowed). `Err` says why, for the client.
    pub fn check(&self, url: &str) -> Result<(), String> {
        if self.is_empty() {
            return Err(
                "callbacks are not enabled on this edge (JOB_CALLBACK_ALLOWED_HOSTS)".into(),
            );
        }
        if url.len() > MAX_URL_LEN || !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "must be an absolute URL of at most {MAX_URL_LEN} printable characters"
            ));
        }
        if url.contains('\\') {
            return Err("must not contain a backslash".into());
        }
        if url.contains('#') {
            return Err("must not have a fragment (#)".into());
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("must be an absolute https:// URL")?;
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not contain user info (user:password@)".into());
        }
        let (host, port) = split_host_port(authority)?;
        let host = host.to_ascii_lowercase();
        let port = if is_loopback_host(&host) {
            if !self.loopback {
                return Err(
                    "must not point at a loopback host (JOB_CALLBACK_ALLOW_LOOPBACK is off)".into(),
                );
            }
            if !matches!(scheme, "https" | "http") {
                return Err("must use https (or http to a loopback host)".into());
            }
            port
        } else {
            if is_ip_literal(&host) {
                return Err("must name a host, not an IP address".into());
            }
            if !is_dns_name(&host) {
                return Err("has an invalid host".into());
            }
            if scheme != "https" {
                return Err("must use https".into());
            }
            port.filter(|p| *p != 443)
        };
        if self.entries.iter().any(|entry| entry.admits(&host, port)) {
            return Ok(());
        }
        Err(match port {
            Some(port) => format!("host {host:?} on port {port} is not allowed for callbacks"),
            None => format!("host {host:?} is not allowed for callbacks"),
        })
    }
}

/// One lowercase entry of `JOB_CALLBACK_ALLOWED_HOSTS`.
fn parse_entry(entry: &str, loopback: bool) -> Result<Entry, String> {
    let problem = |what: &str| Err(format!("{entry:?} {what}"));
    if entry.contains(['/', '@', '?', '#', '\\']) {
        return problem(
            "must be a host name with an optional :port (no scheme, user info or path)",
        );
    }
    let (host, port) = match split_host_port(entry) {
        Ok(parts) => parts,
        Err(why) => return problem(&why),
    };
    if is_loopback_host(host) {
        if !loopback {
            return problem(
                "is a loopback host: set JOB_CALLBACK_ALLOW_LOOPBACK=true to allow callbacks \
                 to this machine (development only)",
            );
        }
        let host = HostPattern::Loopback(host.to_owned());
        return Ok(Entry { host, port });
    }
    if is_ip_literal(host) {
        return problem("is an IP address: callbacks go to host names only");
    }
    let host = match host.strip_prefix("*.") {
        Some(domain) if is_dns_name(domain) => {
            if !domain.contains('.') || is_public_suffix(domain) {
                return problem(
                    "covers a public suffix: `*.` must be followed by a registrable domain (at \
                     least two labels, not one such as co.uk or workers.dev)",
                );
            }
            HostPattern::Under(domain.to_owned())
        }
        None if is_dns_name(host) => {
            if !host.contains('.') {
                return problem("is not a full host name (it needs at least two labels)");
            }
            HostPattern::Name(host.to_owned())
        }
        _ => return problem("is an invalid host name (a name, or `*.` and a domain)"),
    };
    let port = port.filter(|p| *p != 443);
    Ok(Entry { host, port })
}

fn is_public_suffix(domain: &str) -> bool {
    PUBLIC_SUFFIXES
        .split_whitespace()
        .any(|suffix| suffix == domain)
}

/// `host` and `port` of an authority (`hooks.example.com:8443`, `[::1]:9`); the port is
/// 1 to 65535 in digits.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']').ok_or("has an invalid host")?;
            let (host, port) = authority.split_at(end + 2);
            match port {
                "" => (host, None),
                port => (
                    host,
                    Some(port.strip_prefix(':').ok_or("has an invalid port")?),
                ),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port
        .map(|port| {
            port.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| port.parse::<u16>().ok())
                .flatten()
                .filter(|port| *port != 0)
                .ok_or("has an invalid port (1 to 65535)")
        })
        .transpose()?;
    Ok((host, port))
}

/// Whether `host` is this machine: [`is_loopback`] (by address), or a name under
/// `localhost` (RFC 6761).
fn is_loopback_host(host: &str) -> bool {
    is_loopback(host) || (host.ends_with(".localhost") && is_dns_name(host))
}

/// Whether a URL parser (WHATWG, as `fetch` uses) reads `host` as an IP address: an IPv6
/// literal in brackets, or a name whose last label is a number (`10.0.0.1`, `2130706433`,
/// `10.1`, `0x7f000001`).
fn is_ip_literal(host: &str) -> bool {
    if host.starts_with('[') {
        return true;
    }
    let last = host
        .strip_suffix('.')
        .unwrap_or(host)
        .rsplit('.')
        .next()
        .unwrap_or_default();
    let decimal = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    let hexadecimal = last
        .strip_prefix("0x")
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    decimal || hexadecimal
}

/// Whether `name` is a DNS host name: dot-separated labels of 1 to 63 lowercase letters,
/// digits and hyphens, no hyphen at either end; at most 253 characters.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "job_1";
    const SUBMITTER: &str = "cid:client-0123456789";
    const BODY: &[u8] = br#"{"id":"job_1","status":"succeeded"}"#;

    fn payload<'a>(job_id: &'a str, submitter: &'a str, body: &'a [u8]) -> Payload<'a> {
        Payload {
            job_id,
            submitter,
            body,
        }
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_and_replays() {
        let header = sign("s3cret", 1_700_000_000, &payload(JOB, SUBMITTER, BODY));
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        let check = |secret: &str, body: &[u8], now_s: u64| {
            verify(secret, &header, &payload(JOB, SUBMITTER, body), now_s, 300)
        };
        assert_eq!(check("s3cret", BODY, 1_700_000_100), Ok(()));
        assert_eq!(
            check("s3cret", b"{}", 1_700_000_000),
            Err("signature mismatch")
        );
        assert_eq!(
            check("other", BODY, 1_700_000_000),
            Err("signature mismatch")
        );
        assert_eq!(
            check("s3cret", BODY, 1_700_001_000),
            Err("timestamp outside the tolerance")
        );
        assert_eq!(
            verify("s3cret", "v1=abc", &payload(JOB, SUBMITTER, BODY), 0, 300),
            Err("no timestamp")
        );
    }

    #[test]
    fn a_signature_binds_the_job_and_its_submitter() {
        let header = sign("s3cret", 1_700_000_000, &payload(JOB, SUBMITTER, BODY));
        // HMAC-SHA256("s3cret", "1700000000\njob_1\ncid:client-0123456789\n" + body), as any
        // HMAC library computes it.
        assert_eq!(
            header,
            "t=1700000000,v1=7c06535e7380137bb50fa1d3e004c30b67e2c3770d6e7551349048a99b2b3ac9"
        );
        let now_s = 1_700_000_000;
        for (job, submitter) in [
            ("job_2", SUBMITTER),
            (JOB, "cid:client-fedcba9876543210"),
            (JOB, "ip:203.0.113.9"),
            ("", ""),
        ] {
            assert_eq!(
                verify(
                    "s3cret",
                    &header,
                    &payload(job, submitter, BODY),
                    now_s,
                    300
                ),
                Err("signature mismatch"),
                "{job} {submitter}"
            );
        }
        // No field can carry a line break into the next one.
        assert_eq!(
            verify(
                "s3cret",
                &header,
                &payload("job_1\ncid:x", "", BODY),
                now_s,
                300
            ),
            Err("a line break in the job id or submitter")
        );
    }

    #[test]
    fn deliveries_back_off_then_stop() {
        let delays: Vec<Option<u32>> = (1..=MAX_ATTEMPTS).map(|n| retry_delay_s(5, n)).collect();
        assert_eq!(
            delays,
            [Some(5), Some(20), Some(80), Some(320), Some(1280), None]
        );
        assert_eq!(retry_delay_s(0, 1), Some(0));
    }

    fn assert_refused(hosts: &AllowedHosts, url: &str, why: &str) {
        match hosts.check(url) {
            Ok(()) => panic!("{url} was allowed"),
            Err(error) => assert!(error.contains(why), "{url}: {error:?} lacks {why:?}"),
        }
    }

    #[test]
    fn only_listed_hosts_over_https_on_their_port_receive_callbacks() {
        let allowed =
            AllowedHosts::parse("Hooks.Example.com, *.corp.example, ok.example:8443", false)
                .unwrap();
        for ok in [
            "https://hooks.example.com/jobs?x=1",
            "https://HOOKS.example.com:443/jobs",
            "https://a.b.corp.example/x",
            "https://ok.example:8443/x",
        ] {
            assert_eq!(allowed.check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://hooks.example.com/jobs", "must use https"),
            ("ftp://hooks.example.com/", "must use https"),
            // Another port than the default, unless the entry lists it; and only that one.
            ("https://hooks.example.com:8443/jobs", "not allowed"),
            ("https://ok.example/x", "not allowed"),
            ("https://ok.example:9443/x", "not allowed"),
            ("https://evil.example.com/", "not allowed"),
            ("https://corp.example/", "not allowed"),
            ("https://evilcorp.example/", "not allowed"),
            ("https://127.attacker.example/", "not allowed"),
            ("https://user:pw@ok.example:8443/", "user info"),
            ("https://hooks.example.com@evil.com/", "user info"),
            ("https://hooks.example.com/x#part", "fragment"),
            ("https://hooks.example.com\\@evil.com/", "backslash"),
            ("hooks.example.com/x", "absolute"),
            ("https://hooks.example.com:x/", "invalid port"),
            ("https://hooks.example.com:/", "invalid port"),
            ("https://hooks.example.com:0/", "invalid port"),
            ("https://hooks.example.com:65536/", "invalid port"),
            ("https://exa mple.com/", "printable"),
            ("https:///path", "invalid host"),
            ("https://hooks.example.com./", "invalid host"),
            ("https://hooks_example.com/", "invalid host"),
            // No IP literal, in any of the forms a URL parser reads as one.
            ("https://10.0.0.1/", "IP address"),
            ("https://[2001:db8::1]/", "IP address"),
            ("https://2130706433/", "IP address"),
            ("https://0x7f000001/", "IP address"),
            ("https://10.1/", "IP address"),
            // Loopback is off unless the configuration turns it on.
            ("https://[::1]/", "loopback"),
            ("http://127.0.0.1:9/x", "loopback"),
            ("https://localhost/", "loopback"),
            ("https://hooks.localhost/", "loopback"),
        ] {
            assert_refused(&allowed, bad, why);
        }
        assert_refused(
            &AllowedHosts::default(),
            "https://hooks.example.com/",
            "not enabled",
        );
    }

    #[test]
    fn loopback_receives_callbacks_only_when_the_configuration_says_so() {
        let dev =
            AllowedHosts::parse("127.0.0.1, localhost, [::1], hooks.example.com", true).unwrap();
        for ok in [
            "http://127.0.0.1:9/x",
            "https://127.0.0.1:4567/hook",
            "http://localhost:8080/",
            "http://[::1]:9/x",
            "https://hooks.example.com/",
        ] {
            assert_eq!(dev.check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            // A name that starts with `127.` is not a loopback address.
            ("http://127.attacker.example/hook", "must use https"),
            ("https://127.attacker.example/", "not allowed"),
            ("http://127.0.0.2:9/", "not allowed"),
            ("http://hooks.example.com/", "must use https"),
            ("https://10.0.0.1/", "IP address"),
            ("http://user@127.0.0.1:9/", "user info"),
        ] {
            assert_refused(&dev, bad, why);
        }
        // Without the flag, a loopback entry is a configuration error and a loopback URL
        // never passes.
        for entry in ["127.0.0.1", "localhost", "[::1]", "hooks.localhost"] {
            let error = AllowedHosts::parse(entry, false).unwrap_err();
            assert!(
                error.contains("JOB_CALLBACK_ALLOW_LOOPBACK"),
                "{entry}: {error}"
            );
        }
        let prod = AllowedHosts::parse("hooks.example.com", false).unwrap();
        assert_refused(&prod, "http://127.0.0.1:9/x", "loopback");
    }

    #[test]
    fn the_allow_list_is_checked_when_loaded() {
        for (entry, why) in [
            ("*.com", "public suffix"),
            ("*.co.uk", "public suffix"),
            ("*.com.au", "public suffix"),
            ("*.workers.dev", "public suffix"),
            ("*.localhost", "public suffix"),
            ("*", "invalid"),
            ("*.", "invalid"),
            ("a.*.example.com", "invalid"),
            ("*example.com", "invalid"),
            ("com", "two labels"),
            ("10.0.0.1", "IP address"),
            ("10.0.0.1:443", "IP address"),
            ("[2001:db8::1]", "IP address"),
            ("*.0.0.1", "IP address"),
            ("https://hooks.example.com", "host name"),
            ("hooks.example.com/path", "host name"),
            ("user@hooks.example.com", "host name"),
            ("hooks.example.com:0", "port"),
            ("hooks.example.com:x", "port"),
            ("hooks..example.com", "invalid"),
            ("-hooks.example.com", "invalid"),
        ] {
            match AllowedHosts::parse(entry, true) {
                Ok(hosts) => panic!("{entry} was accepted: {hosts:?}"),
                Err(error) => assert!(error.contains(why), "{entry}: {error:?} lacks {why:?}"),
            }
        }
        for entry in [
            "*.example.com",
            "*.example.co.uk",
            "hooks.example.com:8443",
            "hooks.example.com:443",
            " , hooks.example.com ,",
        ] {
            assert!(AllowedHosts::parse(entry, false).is_ok(), "{entry}");
        }
        assert!(AllowedHosts::parse(" , ", false).unwrap().is_empty());
    }
}
