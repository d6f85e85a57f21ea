//! Callback and audit URLs: what the API reference allows, and which addresses are private.
//!
//! A URL is read with the parser the HTTP client uses (the `url` crate, WHATWG rules), so
//! every spelling the client would follow to a private address is seen as one here: decimal,
//! hexadecimal and octal IPv4 hosts (`http://2130706433/`, `http://0x7f000001/`,
//! `http://127.1/`), a trailing dot, percent-encoded and full-width digits, `\` ending the host,
//! IPv4-mapped and -compatible IPv6. Host names are checked again when they are resolved (the
//! service's callback client resolves them itself and connects only to public addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::error::ApiError;

/// The longest callback or audit URL, in bytes.
pub const MAX_URL_BYTES: usize = 1024;

/// Checks a callback or audit URL as the API reference asks: `http://` or `https://`, a host,
/// no credentials, no port and, unless `allow_private` (for self-hosted networks), no
/// loopback, private, link-local or otherwise non-public address. An empty value is allowed
/// (it disables the callback).
pub fn check_callback_url(field: &str, value: &str, allow_private: bool) -> Result<(), ApiError> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_URL_BYTES {
        return Err(ApiError::invalid(
            field,
            format_args!("must be at most {MAX_URL_BYTES} bytes long"),
        ));
    }
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
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
    // `https:///x` is `https://x/` to the parser; a URL whose authority is empty names no host.
    if rest.starts_with(['/', '\\']) {
        return Err(ApiError::invalid(field, "must name a host"));
    }
    let url = Url::parse(value).map_err(|_| ApiError::invalid(field, "is not a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid(field, "must not contain credentials"));
    }
    let Some(host) = url.host() else {
        return Err(ApiError::invalid(field, "must name a host"));
    };
    if allow_private {
        return Ok(());
    }
    if url.port().is_some() {
        return Err(ApiError::invalid(field, "must not include a port number"));
    }
    if is_private_host(&host) {
        return Err(ApiError::invalid(
            field,
            "must not point at a private address",
        ));
    }
    Ok(())
}

/// Whether a parsed host is a private address or a name that stands for one on every network.
pub fn is_private_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(v4) => is_private_ip(IpAddr::V4(*v4)),
        Host::Ipv6(v6) => is_private_ip(IpAddr::V6(*v6)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || name.ends_with(".localhost")
                || name.ends_with(".local")
                || name.ends_with(".internal")
        }
    }
}

/// Whether an address is not a public destination for a callback: loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast, reserved, documentation or
/// benchmarking ranges, and IPv6 forms that carry such an IPv4 address (mapped, compatible,
/// NAT64, 6to4) or reach one indirectly (Teredo).
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_multicast()
        || a == 0 // 0.0.0.0/8: "this network"
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10: shared (CGNAT)
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24: IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15: benchmarking
        || a >= 240 // 240.0.0.0/4: reserved
}

fn is_private_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() {
        return true;
    }
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::a.b.c.d, IPv4-compatible (deprecated, but routed by some stacks)
        [0, 0, 0, 0, 0, 0, hi, lo] => is_private_v4(embedded(hi, lo)),
        // 64:ff9b::/96: NAT64 reaches the embedded IPv4 address
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_private_v4(embedded(hi, lo)),
        // 2002::/16: 6to4 carries an IPv4 address in bits 16-48
        [0x2002, hi, lo, ..] => is_private_v4(embedded(hi, lo)),
        // 2001::/32 Teredo (tunnels to an obfuscated IPv4), 2001:db8::/32 documentation
        [0x2001, 0 | 0xdb8, ..] => true,
        // 100::/64: discard
        [0x100, 0, 0, 0, ..] => true,
        [first, ..] => {
            (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (first & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_http_and_https_urls_pass() {
        for ok in [
            "",
            "https://example.com/callback",
            "http://cb.example.com",
            "https://203.0.114.1/x?y=1",
            "HTTPS://Example.com/cb",
            "https://[2606:4700::1111]/cb",
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

    /// Every spelling of a private address the security review found the client's URL parser
    /// to follow, and more: each is refused with the same message.
    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for bad in [
            "http://2130706433/cb",
            "http://0x7f000001/cb",
            "http://0177.0.0.1/cb",
            "http://127.1/cb",
            "http://127.0.0.1./cb",
            "http://%31%32%37.0.0.1/cb",
            "http://127.0.0.1\\.example.com/cb",
            "http://169.254.169.254\\latest/meta-data",
            "http://0/cb",
            "http://１２７.０.０.１/cb",
            "http://LOCALHOST./cb",
            "http://api.localhost/cb",
            "http://100.64.0.1/cb",
            "http://[fe80::1]/cb",
            "http://[::ffff:127.0.0.1]/cb",
            "http://[::ffff:7f00:1]/cb",
            "http://[::127.0.0.1]/cb",
            "http://[64:ff9b::a00:1]/cb",
            "http://[2002:c0a8:101::1]/cb",
            "http://[fec0::1]/cb",
            "http://[ff02::1]/cb",
            "http://224.0.0.1/cb",
            "http://240.0.0.1/cb",
            "http://198.18.0.5/cb",
            "http://192.0.0.8/cb",
            "http://0.1.2.3/cb",
            "http://metadata.google.internal/cb",
        ] {
            let err = check_callback_url("EventCallbackUrl", bad, false).unwrap_err();
            assert_eq!(
                err.message, "EventCallbackUrl must not point at a private address.",
                "{bad}"
            );
        }
    }

    #[test]
    fn public_addresses_are_not_mistaken_for_private_ones() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "2002:0808:0808::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn self_hosted_networks_may_allow_private_addresses_and_ports() {
        assert!(check_callback_url("EventCallbackUrl", "http://10.0.0.5:8080/cb", true).is_ok());
        assert!(check_callback_url("EventCallbackUrl", "ftp://10.0.0.5", true).is_err());
        assert!(check_callback_url("EventCallbackUrl", "http://u@10.0.0.5/", true).is_err());
    }
}
