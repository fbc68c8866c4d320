//! Hosts in configured URLs: which host a URL names, and whether it is this machine (where
//! plain http is allowed, for local stand-ins in development and tests).

/// The host of what follows a URL's `scheme://`: `127.0.0.1` of `127.0.0.1:8788/x`, `[::1]`
/// of `[::1]:8788`.
pub fn authority_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match authority.find(']') {
        Some(end) if authority.starts_with('[') => &authority[..=end],
        _ => authority.split(':').next().unwrap_or_default(),
    }
}

/// Whether `host` is this machine: `localhost`, `[::1]`, or an IPv4 literal in 127.0.0.0/8.
/// A name that merely starts with `127.` (`127.attacker.example`) is not.
pub fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
}
