//! The custom audit of client messages (`AuditType` 2): the message's body is POSTed to the
//! app's `AuditUrl` as `{"content": "..."}`, signed like a callback (`Ali-Live-Timestamp`,
//! `Ali-Live-Signature` with the AppKey), and the audit answers `{"pass": bool, "reason":
//! "..."}`. As documented, an audit that does not answer 200 (or not within
//! `messages.audit_timeout_ms`, or not in that shape) is an audit service that is unavailable:
//! the message is delivered unaudited, and counted. The URL is checked again before each call,
//! like a callback URL.

use std::time::Duration;

use serde::Deserialize;

use crate::workers::callbacks::egress;
use crate::workers::callbacks::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// What the audit decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Do not: the audit's reason.
    Reject(String),
    /// The audit could not be asked; delivered unaudited (the reason, for the log).
    Unavailable(String),
}

/// Calls custom audits.
#[derive(Debug, Clone)]
pub struct Auditor {
    client: reqwest::Client,
    allow_private_urls: bool,
}

#[derive(Deserialize)]
struct Answer {
    pass: bool,
    #[serde(default)]
    reason: String,
}

impl Auditor {
    /// An auditor whose calls take at most `timeout`.
    pub fn new(timeout: Duration, allow_private_urls: bool) -> Result<Self, reqwest::Error> {
        Ok(Auditor {
            client: egress::client_with(timeout, allow_private_urls)?,
            allow_private_urls,
        })
    }

    /// Asks the audit at `url` about `content`, signing with `app_key`.
    pub async fn audit(&self, url: &str, app_key: &str, content: &str) -> Verdict {
        let verdict = self.ask(url, app_key, content).await;
        let outcome = match &verdict {
            Verdict::Pass => "pass",
            Verdict::Reject(_) => "reject",
            Verdict::Unavailable(why) => {
                tracing::warn!(
                    why,
                    "the custom audit is unavailable; the message is delivered unaudited"
                );
                "unavailable"
            }
        };
        metrics::counter!("livemsg_audits_total", "outcome" => outcome).increment(1);
        verdict
    }

    async fn ask(&self, url: &str, app_key: &str, content: &str) -> Verdict {
        if let Err(why) = egress::check(url, self.allow_private_urls) {
            return Verdict::Unavailable(why);
        }
        let body = serde_json::json!({ "content": content }).to_string();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(
                SIGNATURE_HEADER,
                signature(app_key, &timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) => return Verdict::Unavailable(err.without_url().to_string()),
        };
        if response.status() != reqwest::StatusCode::OK {
            return Verdict::Unavailable(format!("the audit answered {}", response.status()));
        }
        match response.json::<Answer>().await {
            Ok(Answer { pass: true, .. }) => Verdict::Pass,
            Ok(Answer {
                pass: false,
                reason,
            }) => Verdict::Reject(reason),
            Err(err) => {
                Verdict::Unavailable(format!("the audit's answer is not understood: {err}"))
            }
        }
    }
}
