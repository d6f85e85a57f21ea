//! Callback and audit URLs: what the API reference allows, and which addresses are private.

use crate::error::ApiError;

/// Checks a callback or audit URL as the API reference asks: `http://` or `https://`, a host,
/// no port and, unless `allow_private` (for self-hosted networks), no loopback, private,
/// link-local or otherwise non-public address. An empty value is allowed (it disables the
/// callback).
pub fn check_callback_url(field: &str, value: &str, allow_private: bool) -> Result<(), ApiError> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 1024 {
        return Err(ApiError::invalid(field, "must be at most 1024 bytes long"));
    }
    let rest = if let Some(rest) = value.strip_prefix("https://") {
        rest
    } else if let Some(rest) = value.strip_prefix("http://") {
        rest
    } else {
        return Err(ApiError::invalid(
            field,
            "must start with http:// or https://",
        ));
    };
    if value
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(ApiError::invalid(
            field,
            "must not contain spaces or control characters",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ApiError::invalid(field, "must not contain credentials"));
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err(ApiError::invalid(field, "must name a host"));
    }
    if port.is_some() && !allow_private {
        return Err(ApiError::invalid(field, "must not include a port number"));
    }
    if !allow_private && is_private_host(host) {
        return Err(ApiError::invalid(
            field,
            "must not point at a private address",
        ));
    }
    Ok(())
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(inner) = authority.strip_prefix('[') {
        // [v6]:port
        return match inner.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => (inner, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn is_private_host(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") || lower.ends_with(".local") {
        return true;
    }
    lower.parse().is_ok_and(is_private_ip)
}

/// Whether an address is loopback, private, link-local, shared (CGNAT) or otherwise not a
/// public destination for a callback.
pub fn is_private_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_ip(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_callback_url;

    #[test]
    fn public_http_and_https_urls_pass() {
        for ok in [
            "",
            "https://example.com/callback",
            "http://cb.example.com",
            "https://203.0.114.1/x?y=1",
        ] {
            assert!(
                check_callback_url("EventCallbackUrl", ok, false).is_ok(),
                "{ok}"
            );
        }
    }

    #[test]
    fn other_schemes_ports_and_private_addresses_are_refused() {
        for (bad, why) in [
            ("ftp://example.com", "must start with http:// or https://"),
            ("example.com/cb", "must start with http:// or https://"),
            (
                "https://example.com:8443/cb",
                "must not include a port number",
            ),
            ("http://127.0.0.1/cb", "must not point at a private address"),
            ("http://10.1.2.3/cb", "must not point at a private address"),
            ("http://192.168.0.1", "must not point at a private address"),
            ("http://172.16.5.4", "must not point at a private address"),
            (
                "http://169.254.169.254/latest",
                "must not point at a private address",
            ),
            ("http://[::1]/cb", "must not point at a private address"),
            ("http://[fd00::1]/cb", "must not point at a private address"),
            ("http://localhost/cb", "must not point at a private address"),
            ("http://user:pw@example.com", "must not contain credentials"),
            ("https:///path", "must name a host"),
            (
                "https://exa mple.com",
                "must not contain spaces or control characters",
            ),
        ] {
            let err = check_callback_url("EventCallbackUrl", bad, false).unwrap_err();
            assert_eq!(err.message, format!("EventCallbackUrl {why}."), "{bad}");
        }
    }

    #[test]
    fn self_hosted_networks_may_allow_private_addresses_and_ports() {
        assert!(check_callback_url("EventCallbackUrl", "http://10.0.0.5:8080/cb", true).is_ok());
        assert!(check_callback_url("EventCallbackUrl", "ftp://10.0.0.5", true).is_err());
    }
}
