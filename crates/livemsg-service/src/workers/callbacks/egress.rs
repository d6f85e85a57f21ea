//! Where callbacks may go: host names are resolved here, and a name whose addresses are all
//! private is not followed (unless `callbacks.allow_private_urls`).

use std::net::SocketAddr;

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
    use std::sync::Arc;

    use super::super::chain;
    use super::*;

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
