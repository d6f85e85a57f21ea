//! `AdminService`: accounts, RAM users, AccessKeys and policies, for operators' tooling.

use livemsg_proto::admin::v1::admin_service_server::AdminService;
use livemsg_proto::admin::v1::*;
use livemsg_store::Store;
use tonic::{Request, Response, Status};

use crate::errors::reply;
use crate::usecases::accounts;

/// Serves administration calls.
#[derive(Debug, Clone)]
pub(crate) struct AdminApi {
    store: Store,
}

impl AdminApi {
    /// A service over `store`.
    pub(crate) fn new(store: Store) -> Self {
        AdminApi { store }
    }
}

fn user(name: &str) -> Option<&str> {
    Some(name).filter(|n| !n.is_empty())
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    #[tracing::instrument(skip_all)]
    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let created = accounts::create_account(&self.store, &req.name).await?;
                Ok(CreateAccountResponse {
                    account_id: created.account.account_id,
                    access_key_id: created.key.access_key_id,
                    access_key_secret: created.key.secret,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_ram_user(
        &self,
        request: Request<CreateRamUserRequest>,
    ) -> Result<Response<CreateRamUserResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store
                    .create_ram_user(req.account_id, &req.user_name)
                    .await?;
                Ok(CreateRamUserResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_access_key(
        &self,
        request: Request<CreateAccessKeyRequest>,
    ) -> Result<Response<CreateAccessKeyResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let key = self
                    .store
                    .create_access_key(req.account_id, user(&req.user_name))
                    .await?;
                Ok(CreateAccessKeyResponse {
                    access_key_id: key.access_key_id,
                    access_key_secret: key.secret,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn set_access_key_enabled(
        &self,
        request: Request<SetAccessKeyEnabledRequest>,
    ) -> Result<Response<SetAccessKeyEnabledResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store
                    .set_access_key_enabled(&req.access_key_id, req.enabled)
                    .await?;
                Ok(SetAccessKeyEnabledResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn delete_access_key(
        &self,
        request: Request<DeleteAccessKeyRequest>,
    ) -> Result<Response<DeleteAccessKeyResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store.delete_access_key(&req.access_key_id).await?;
                Ok(DeleteAccessKeyResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<Response<CreatePolicyResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store
                    .create_policy(req.account_id, &req.policy_name, &req.document)
                    .await?;
                Ok(CreatePolicyResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn attach_policy(
        &self,
        request: Request<AttachPolicyRequest>,
    ) -> Result<Response<AttachPolicyResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store
                    .attach_policy(req.account_id, &req.user_name, &req.policy_name)
                    .await?;
                Ok(AttachPolicyResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn detach_policy(
        &self,
        request: Request<DetachPolicyRequest>,
    ) -> Result<Response<DetachPolicyResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                self.store
                    .detach_policy(req.account_id, &req.user_name, &req.policy_name)
                    .await?;
                Ok(DetachPolicyResponse {})
            }
            .await,
        )
    }
}
