//! Where callbacks may go. A callback is sent only if its URL passes the same check as at
//! creation, now (stored URLs may predate a rule, and `callbacks.allow_private_urls` may have
//! changed); an IP-literal host is checked there, a host name is resolved by
//! [`PublicResolver`], which hands the connector only public addresses, so the address
//! connected to is always one that was checked. No proxy is taken from the environment (a proxy
//! would resolve names itself), and redirects are not followed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::settings::CallbackSettings;

/// The HTTP client of callback delivery, as described above.
pub(super) fn client(settings: &CallbackSettings) -> Result<reqwest::Client, reqwest::Error> {
    client_with(
        Duration::from_millis(settings.timeout_ms),
        settings.allow_private_urls,
    )
}

/// An HTTP client that calls out of livemsg (callbacks, custom audits) under the rules above,
/// each request bounded by `timeout`.
pub(crate) fn client_with(
    timeout: Duration,
    allow_private_urls: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("livemsg/", env!("CARGO_PKG_VERSION")));
    if !allow_private_urls {
        client = client.dns_resolver(Arc::new(PublicResolver));
    }
    client.build()
}

/// Whether `url` may be called now; the reason if not (without the URL itself, which may
/// carry a token).
pub(crate) fn check(url: &str, allow_private: bool) -> Result<(), String> {
    livemsg_domain::check_callback_url("EventCallbackUrl", url, allow_private)
        .map_err(|err| format!("the URL is refused: {}", err.message))
}

/// Resolves callback hosts, refusing private addresses unless they are allowed, so a public
/// name that points inside the network is not followed.
#[derive(Debug, Clone, Copy)]
pub(super) struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !livemsg_domain::is_private_ip(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::chain;
    use super::*;

    #[test]
    fn stored_urls_are_checked_again_before_each_send() {
        assert!(check("https://example.com/cb", false).is_ok());
        for refused in [
            "http://2130706433/cb",
            "http://[::ffff:10.0.0.1]/",
            "ftp://x",
        ] {
            assert!(check(refused, false).is_err(), "{refused}");
        }
        let why = check("http://10.0.0.7/cb?token=secret", false).unwrap_err();
        assert!(!why.contains("secret"), "{why}");
        assert!(check("http://10.0.0.7:8080/cb", true).is_ok());
    }

    #[tokio::test]
    async fn host_names_that_resolve_only_to_private_addresses_are_not_followed() {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicResolver))
            .build()
            .unwrap();
        let err = client
            .post("http://localhost:9/cb")
            .send()
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("localhost has no public address"),
            "{}",
            chain(&err)
        );
        // Without the resolver (callbacks.allow_private_urls), the name is followed: the
        // connection is refused by the closed port instead.
        let err = reqwest::Client::new()
            .post("http://localhost:9/cb")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{}", chain(&err));
        assert!(!chain(&err).contains("no public address"));
    }
}
