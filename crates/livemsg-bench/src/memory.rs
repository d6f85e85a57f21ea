//! Scenario 6: resident memory of the gateway and the service, idle and at 1,000 concurrent
//! connections.

use super::*;
use crate::members::{list_request, random_page, signed_list};

impl Bench {
    /// Scenario 6: resident memory at 1,000 concurrent connections.
    pub(crate) async fn memory(
        &mut self,
        gateway: &Process,
        service: &Process,
        grpc_addr: &str,
        idle: (f64, f64),
    ) -> anyhow::Result<()> {
        const CONNECTIONS: usize = 1_000;
        let ids = self.ids();
        let endpoint = self.endpoint.clone();
        let groups = self.seeded.list_groups;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (ids, endpoint) = (ids.clone(), endpoint.clone());
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            tasks.push(tokio::spawn(async move {
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    let (group, sort, token) = random_page(groups);
                    if signed_list(&http, &endpoint, &ids, &group, sort, token)
                        .await
                        .is_ok()
                    {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let gateway_peak = sample_peak(gateway, deadline).await;
        let mut http_ok = 0;
        for task in tasks {
            http_ok += task.await?;
        }
        // The service, with 1,000 gRPC connections of its own.
        let mut channels = Vec::new();
        for _ in 0..CONNECTIONS {
            let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))?
                .connect()
                .await?;
            channels.push(tonic::service::interceptor::InterceptedService::new(
                channel,
                BearerToken::new(TOKEN)?,
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for channel in channels {
            let ids = ids.clone();
            tasks.push(tokio::spawn(async move {
                let mut api = MemberServiceClient::new(channel);
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    let (group, sort, token) = random_page(groups);
                    if api
                        .list_group_users(list_request(&ids, group, sort, token))
                        .await
                        .is_ok()
                    {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let service_peak = sample_peak(service, deadline).await;
        let mut grpc_ok = 0;
        for task in tasks {
            grpc_ok += task.await?;
        }
        self.notes.push(format!(
            "6. memory (RSS, MiB): gateway {:.1} idle, {gateway_peak:.1} at {CONNECTIONS} concurrent HTTP connections ({http_ok} signed lists in 5 s); \
             service {:.1} idle, {service_peak:.1} at {CONNECTIONS} concurrent gRPC connections ({grpc_ok} lists in 5 s).",
            idle.0, idle.1
        ));
        eprintln!(
            "  {}",
            self.notes.last().map(String::as_str).unwrap_or_default()
        );
        Ok(())
    }
}

/// The highest RSS of `process` until `deadline`, sampled every 100 ms.
async fn sample_peak(process: &Process, deadline: Instant) -> f64 {
    let mut peak: f64 = 0.0;
    while Instant::now() < deadline {
        peak = peak.max(process.rss_mib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak.max(process.rss_mib())
}
