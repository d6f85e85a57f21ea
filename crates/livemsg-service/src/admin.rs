//! `AdminService`: accounts, RAM users, AccessKeys and policies, for operators' tooling.

use livemsg_proto::admin::v1::admin_service_server::AdminService;
use livemsg_proto::admin::v1::*;
use livemsg_store::Store;
use tonic::{Request, Response, Status};

use crate::errors;

/// Serves administration calls.
#[derive(Debug, Clone)]
pub struct AdminApi {
    store: Store,
}

impl AdminApi {
    /// A service over `store`.
    pub fn new(store: Store) -> Self {
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
        let account = self
            .store
            .create_account(&request.get_ref().name)
            .await
            .map_err(errors::status)?;
        let key = self
            .store
            .create_access_key(account.account_id, None)
            .await
            .map_err(errors::status)?;
        tracing::info!(account.id = account.account_id, "account created");
        Ok(Response::new(CreateAccountResponse {
            account_id: account.account_id,
            access_key_id: key.access_key_id,
            access_key_secret: key.secret,
        }))
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_ram_user(
        &self,
        request: Request<CreateRamUserRequest>,
    ) -> Result<Response<CreateRamUserResponse>, Status> {
        let req = request.into_inner();
        self.store
            .create_ram_user(req.account_id, &req.user_name)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(CreateRamUserResponse {}))
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_access_key(
        &self,
        request: Request<CreateAccessKeyRequest>,
    ) -> Result<Response<CreateAccessKeyResponse>, Status> {
        let req = request.into_inner();
        let key = self
            .store
            .create_access_key(req.account_id, user(&req.user_name))
            .await
            .map_err(errors::status)?;
        Ok(Response::new(CreateAccessKeyResponse {
            access_key_id: key.access_key_id,
            access_key_secret: key.secret,
        }))
    }

    #[tracing::instrument(skip_all, fields(access_key.id = %request.get_ref().access_key_id))]
    async fn set_access_key_enabled(
        &self,
        request: Request<SetAccessKeyEnabledRequest>,
    ) -> Result<Response<SetAccessKeyEnabledResponse>, Status> {
        let req = request.into_inner();
        self.store
            .set_access_key_enabled(&req.access_key_id, req.enabled)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(SetAccessKeyEnabledResponse {}))
    }

    #[tracing::instrument(skip_all, fields(access_key.id = %request.get_ref().access_key_id))]
    async fn delete_access_key(
        &self,
        request: Request<DeleteAccessKeyRequest>,
    ) -> Result<Response<DeleteAccessKeyResponse>, Status> {
        self.store
            .delete_access_key(&request.get_ref().access_key_id)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(DeleteAccessKeyResponse {}))
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<Response<CreatePolicyResponse>, Status> {
        let req = request.into_inner();
        self.store
            .create_policy(req.account_id, &req.policy_name, &req.document)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(CreatePolicyResponse {}))
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn attach_policy(
        &self,
        request: Request<AttachPolicyRequest>,
    ) -> Result<Response<AttachPolicyResponse>, Status> {
        let req = request.into_inner();
        self.store
            .attach_policy(req.account_id, &req.user_name, &req.policy_name)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(AttachPolicyResponse {}))
    }

    #[tracing::instrument(skip_all, fields(account.id = request.get_ref().account_id))]
    async fn detach_policy(
        &self,
        request: Request<DetachPolicyRequest>,
    ) -> Result<Response<DetachPolicyResponse>, Status> {
        let req = request.into_inner();
        self.store
            .detach_policy(req.account_id, &req.user_name, &req.policy_name)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(DetachPolicyResponse {}))
    }
}
