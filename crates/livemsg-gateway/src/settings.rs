//! The gateway's settings, read through [`livemsg_runtime::ConfigSource`].

use livemsg_runtime::LogSettings;
use serde::{Deserialize, Serialize};

/// Everything the gateway reads.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct GatewaySettings {
    /// `[log]`
    pub log: LogSettings,
    /// `[gateway]`
    pub gateway: HttpSettings,
    /// `[ratelimit]`
    pub ratelimit: livemsg_ratelimit::RateLimitSettings,
    /// `[internal]`: the token sent with every call to the service.
    pub internal: livemsg_runtime::InternalSettings,
}

/// The HTTP side and the way to the service (`[gateway]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// `host:port` to listen on; port 0 picks a free port.
    pub listen: String,
    /// The gRPC service's URL (`https://...` when the service speaks TLS).
    pub service_url: String,
    /// PEM CA certificate that signed the service's certificate; set it to speak TLS.
    pub service_tls_ca_path: String,
    /// The name the service's certificate must carry; empty uses the URL's host.
    pub service_tls_domain: String,
    /// PEM client certificate, for a service that requires mutual TLS.
    pub service_tls_cert_path: String,
    /// The key of `service_tls_cert_path`.
    pub service_tls_key_path: String,
    /// How long a call to the service may take, in milliseconds.
    pub service_timeout_ms: u64,
    /// How long connecting to the service may take, in milliseconds.
    pub service_connect_timeout_ms: u64,
    /// The `HostId` of error bodies.
    pub host_id: String,
    /// Base URL of the `Recommend` field of error bodies; empty leaves it empty.
    pub recommend_url: String,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive, in milliseconds.
    pub body_timeout_ms: u64,
    /// How long a request head may take to arrive (and an idle connection stay open).
    pub header_timeout_ms: u64,
    /// The largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How many connections may be open at once; more are closed on arrival.
    pub max_connections: usize,
    /// How many parameters one request may carry (query and body together).
    pub max_params: usize,
    /// How far a request's signing time may be from the gateway's clock, in seconds.
    pub max_clock_skew_secs: i64,
    /// How long a resolved AccessKey (secret, RAM user, policies) is reused, in milliseconds:
    /// the longest an administrator's change takes to reach this gateway.
    pub auth_cache_ttl_ms: u64,
    /// Prefix of the Redis keys that remember signature nonces.
    pub nonce_key_prefix: String,
    /// How many nonces this gateway remembers within the validity window, at most; past that,
    /// requests are refused as unavailable rather than accepted unremembered.
    pub nonce_memory_entries: usize,
    /// Take the caller's address from `X-Forwarded-For` and TLS from `X-Forwarded-Proto`
    /// (only behind a proxy that sets them; otherwise callers could forge their address).
    pub trust_forwarded_headers: bool,
    /// How many proxies in front of the gateway append to `X-Forwarded-For` (the client is that
    /// many entries from the right, counting the peer).
    pub trusted_proxy_hops: usize,
    /// Where `/metrics` is served (kept off the public port).
    pub metrics_listen: String,
    /// On SIGTERM, how long to keep serving while `/readyz` answers 503, so that load
    /// balancers stop sending first.
    pub shutdown_delay_ms: u64,
    /// Then, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
}

impl HttpSettings {
    /// The client TLS configuration for the service, if any.
    pub fn service_tls(&self) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
        use anyhow::Context;
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        if self.service_tls_ca_path.is_empty() {
            return Ok(None);
        }
        let read = |path: &str| std::fs::read(path).with_context(|| format!("cannot read {path}"));
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&self.service_tls_ca_path)?));
        if !self.service_tls_domain.is_empty() {
            tls = tls.domain_name(self.service_tls_domain.clone());
        }
        if !self.service_tls_cert_path.is_empty() {
            tls = tls.identity(Identity::from_pem(
                read(&self.service_tls_cert_path)?,
                read(&self.service_tls_key_path)?,
            ));
        }
        Ok(Some(tls))
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".to_owned(),
            service_url: "http://127.0.0.1:50051".to_owned(),
            service_tls_ca_path: String::new(),
            service_tls_domain: String::new(),
            service_tls_cert_path: String::new(),
            service_tls_key_path: String::new(),
            service_timeout_ms: 5_000,
            service_connect_timeout_ms: 1_000,
            host_id: "livemsg".to_owned(),
            recommend_url: String::new(),
            max_body_bytes: 256 * 1024,
            body_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            max_header_bytes: 96 * 1024,
            max_connections: 4_096,
            max_params: 1_000,
            max_clock_skew_secs: 15 * 60,
            auth_cache_ttl_ms: 5_000,
            nonce_key_prefix: "livemsg:nonce".to_owned(),
            nonce_memory_entries: 4_000_000,
            trust_forwarded_headers: false,
            trusted_proxy_hops: 1,
            metrics_listen: "127.0.0.1:9101".to_owned(),
            shutdown_delay_ms: 0,
            shutdown_grace_ms: 25_000,
        }
    }
}
