//! Per-client rate limiting: the bucket a request counts against (its IP's network), and a
//! fixed-window limiter in memory for the native platforms. On
//! Workers the rate limiting binding of the route's class does the counting. Widget keys are
//! public and counted by their own classes ([`crate::http::widget::WidgetCaller::rate_limit_buckets`]).

use crate::config::RateLimitClass;
use crate::platform::nonempty_header;
use crate::text::hex::hex;
use std::collections::HashMap;

/// The client's IP (Cloudflare's `CF-Connecting-IP`), or `unknown`.
pub fn client_ip(headers: &[(String, String)]) -> &str {
    nonempty_header(headers, "cf-connecting-ip").unwrap_or("unknown")
}

/// Who the client's IP counts as for rate limits: an IPv4 address as it is, an IPv6 address
/// as its /64 (one subscriber gets a whole /64, so a bucket per address would be a bucket per
/// request for anyone who wants one).
pub fn client_network(headers: &[(String, String)]) -> String {
    let ip = client_ip(headers);
    if let Some(v4) = ip.strip_prefix("::ffff:").filter(|v4| v4.contains('.')) {
        return v4.to_owned();
    }
    match ipv6_groups(ip) {
        Some(groups) => {
            let prefix: Vec<String> = groups[..4].iter().map(|g| hex(&g.to_be_bytes())).collect();
            format!("{}::/64", prefix.join(":"))
        }
        None => ip.to_owned(),
    }
}

/// The eight groups of an IPv6 address in text form (`2001:db8::1`), `None` for anything
/// else. (std's parser would cost the Worker 6 KB for the same answer.)
fn ipv6_groups(ip: &str) -> Option<[u16; 8]> {
    let parse = |part: &str| -> Option<Vec<u16>> {
        if part.is_empty() {
            return Some(Vec::new());
        }
        part.split(':')
            .map(|group| {
                let hex =
                    (1..=4).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_hexdigit());
                hex.then(|| u16::from_str_radix(group, 16).ok()).flatten()
            })
            .collect()
    };
    let (head, tail) = match ip.split_once("::") {
        Some((head, tail)) => (parse(head)?, parse(tail)?),
        None => (parse(ip)?, Vec::new()),
    };
    let compressed = ip.contains("::");
    let filled = head.len() + tail.len();
    if !ip.contains(':')
        || filled > 8
        || (compressed && filled == 8)
        || (!compressed && filled != 8)
    {
        return None;
    }
    let mut groups = [0u16; 8];
    groups[..head.len()].copy_from_slice(&head);
    groups[8 - tail.len()..].copy_from_slice(&tail);
    Some(groups)
}

/// The bucket a request counts against: `ip:<network>` ([`client_network`] of Cloudflare's
/// `CF-Connecting-IP`; `ip:unknown` without it). Nothing the caller sends can choose another
/// one: an `X-API-Key` or `Authorization` value the edge has not issued authenticates nobody,
/// so it must not mint a bucket.
pub fn client_bucket(headers: &[(String, String)]) -> String {
    format!("ip:{}", client_network(headers))
}

/// Fixed windows of `period_s` seconds, aligned to the epoch: at most `limit` hits per bucket
/// per window. What the native platforms use in place of the Workers binding.
#[derive(Debug, Default)]
pub struct FixedWindowLimiter {
    windows: HashMap<String, (u64, u32)>,
}

impl FixedWindowLimiter {
    /// Counts a hit on `bucket` of `class` at `now_ms`; `false` when over the limit.
    pub fn hit(&mut self, class: &str, limits: RateLimitClass, bucket: &str, now_ms: u64) -> bool {
        let window = now_ms / (u64::from(limits.period_s.max(1)) * 1000);
        let entry = self
            .windows
            .entry(format!("{class}/{bucket}"))
            .or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= limits.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn the_bucket_is_the_network_whatever_credentials_are_claimed() {
        assert_eq!(client_bucket(&[]), "ip:unknown");
        let ip = ("cf-connecting-ip", "203.0.113.9");
        assert_eq!(client_bucket(&headers(&[ip])), "ip:203.0.113.9");
        for claimed in [
            ("x-api-key", "made-up-1"),
            ("authorization", "Bearer made-up-2"),
            ("x-widget-key", "pk_public"),
        ] {
            assert_eq!(
                client_bucket(&headers(&[ip, claimed])),
                "ip:203.0.113.9",
                "{claimed:?} mints no bucket of its own"
            );
        }
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        let bucket = |ip: &str| client_bucket(&headers(&[("cf-connecting-ip", ip)]));
        assert_eq!(bucket("2001:db8:1:2::1"), "ip:2001:0db8:0001:0002::/64");
        assert_eq!(
            bucket("2001:db8:1:2:ffff:ffff:ffff:fffe"),
            bucket("2001:db8:1:2::1"),
            "one /64, one bucket"
        );
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
        assert_eq!(bucket("203.0.113.9"), "ip:203.0.113.9");
        assert_eq!(bucket("::ffff:203.0.113.9"), "ip:203.0.113.9");
        assert_eq!(
            bucket("2001:db8:0:0:1:2:3:4"),
            "ip:2001:0db8:0000:0000::/64"
        );
        assert_eq!(bucket("::1"), "ip:0000:0000:0000:0000::/64");
        for not_v6 in [
            "2001:db8::1::2",
            "2001:db8:1:2:3:4:5:6:7",
            "2001:db8:12345::1",
            "g::1",
        ] {
            assert_eq!(bucket(not_v6), format!("ip:{not_v6}"), "taken as it is");
        }
    }

    #[test]
    fn fixed_windows_count_per_bucket_and_reset() {
        let limits = RateLimitClass {
            limit: 2,
            period_s: 10,
            fail_closed: false,
        };
        let mut limiter = FixedWindowLimiter::default();
        assert!(limiter.hit("chat", limits, "ip:a", 10_000));
        assert!(limiter.hit("chat", limits, "ip:a", 15_000));
        assert!(!limiter.hit("chat", limits, "ip:a", 19_999));
        assert!(limiter.hit("chat", limits, "ip:b", 19_999), "other client");
        assert!(limiter.hit("heavy", limits, "ip:a", 19_999), "other class");
        assert!(limiter.hit("chat", limits, "ip:a", 20_000), "next window");
    }
}
