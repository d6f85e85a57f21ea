//! `AuthService`: AccessKey lookup for the gateway.

use livemsg_proto::auth::v1::auth_service_server::AuthService;
use livemsg_proto::auth::v1::{ResolveAccessKeyRequest, ResolveAccessKeyResponse};
use livemsg_store::Store;
use tonic::{Request, Response, Status};

use crate::errors::reply;
use crate::proofs::Proofs;

/// Serves AccessKey lookups.
#[derive(Debug, Clone)]
pub(crate) struct AuthApi {
    store: Store,
    proofs: Proofs,
}

impl AuthApi {
    /// A service over `store`, giving caller proofs signed with `proofs`.
    pub(crate) fn new(store: Store, proofs: Proofs) -> Self {
        AuthApi { store, proofs }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[tracing::instrument(skip_all)]
    async fn resolve_access_key(
        &self,
        request: Request<ResolveAccessKeyRequest>,
    ) -> Result<Response<ResolveAccessKeyResponse>, Status> {
        let id = &request.get_ref().access_key_id;
        reply(
            async {
                // Reject what can never be a key before touching the database.
                if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(livemsg_store::StoreError::AccessKeyNotFound.into());
                }
                let resolved = self.store.resolve_access_key(id).await?;
                let key = resolved.key;
                Ok(ResolveAccessKeyResponse {
                    access_key_id: key.access_key_id,
                    account_id: key.account_id,
                    access_key_secret: key.secret,
                    enabled: key.enabled,
                    user_name: key.user_name.unwrap_or_default(),
                    policies: resolved.policies,
                    caller_proof: self
                        .proofs
                        .caller_proof(key.account_id, chrono::Utc::now().timestamp()),
                })
            }
            .await,
        )
    }
}
