//! The operator's command: migrations, accounts and AccessKeys.
//!
//! It talks to Postgres directly (it runs where the service runs, never in the gateway) and
//! prints its results as JSON on standard output, so scripts can read them. A new AccessKey
//! secret is printed once, at creation; it cannot be read back.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use livemsg_runtime::{init_tracing, ConfigSource};
use livemsg_service::ServiceSettings;
use livemsg_store::Store;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "livemsg-admin",
    about = "Administer a livemsg installation",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if it does not exist, then apply the migrations not applied yet.
    Migrate,
    /// Create an account and a first AccessKey pair for it.
    CreateAccount {
        /// A display name for the account.
        #[arg(long)]
        name: String,
    },
    /// Create another AccessKey pair for an account, or for one of its RAM users.
    CreateAccessKey {
        /// The 16-digit account id.
        #[arg(long)]
        account_id: i64,
        /// The RAM user the key belongs to; without it, a root key of the account.
        #[arg(long)]
        user_name: Option<String>,
    },
    /// Create a RAM user in an account.
    CreateRamUser {
        #[arg(long)]
        account_id: i64,
        #[arg(long)]
        user_name: String,
    },
    /// Create a policy from a RAM policy document (JSON, inline or @file).
    CreatePolicy {
        #[arg(long)]
        account_id: i64,
        #[arg(long)]
        policy_name: String,
        /// The document, or @path to read it from a file.
        #[arg(long)]
        document: String,
    },
    /// Attach a policy to a RAM user.
    AttachPolicy {
        #[arg(long)]
        account_id: i64,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Detach a policy from a RAM user.
    DetachPolicy {
        #[arg(long)]
        account_id: i64,
        #[arg(long)]
        user_name: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Delete an AccessKey.
    DeleteAccessKey {
        #[arg(long)]
        access_key_id: String,
    },
    /// Print a new random key for `secrets.keys.<name>`.
    GenerateSecretsKey,
    /// Re-seal every AccessKey secret under `secrets.active_key` (after a rotation).
    ReencryptSecrets,
    /// Disable an AccessKey: requests signed with it are refused.
    DisableAccessKey {
        #[arg(long)]
        access_key_id: String,
    },
    /// Enable a disabled AccessKey again.
    EnableAccessKey {
        #[arg(long)]
        access_key_id: String,
    },
}

fn print(value: serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &value)?;
    writeln!(out)?;
    Ok(())
}

/// Creates the configured database when it is missing, through the `postgres` maintenance
/// database (the configured user needs the CREATEDB right for that, and only then).
async fn ensure_database(settings: &ServiceSettings) -> anyhow::Result<()> {
    use sqlx::Connection;
    let name = &settings.database.database_name;
    let mut conn =
        sqlx::PgConnection::connect_with(&settings.database.connect_options().database("postgres"))
            .await
            .context("cannot connect to the postgres maintenance database")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::raw_sql(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        tracing::info!(database = %name, "database created");
    }
    conn.close().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::GenerateSecretsKey) {
        return print(json!({ "Key": livemsg_store::Keyring::new_key_base64() }));
    }
    let settings: ServiceSettings = ConfigSource::from_env()
        .load()
        .context("cannot read the settings")?;
    init_tracing(&settings.log);
    if matches!(cli.command, Command::Migrate) {
        ensure_database(&settings).await?;
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(settings.database.connect_options())
        .await
        .with_context(|| {
            format!(
                "cannot connect to Postgres at {}:{} database {}",
                settings.database.host, settings.database.port, settings.database.database_name
            )
        })?;
    let keyring = settings
        .secrets
        .keyring()
        .context("cannot build the secrets keyring")?;
    let store = Store::new(pool.clone(), settings.groups.super_group_threshold, keyring);
    match cli.command {
        Command::Migrate => {
            livemsg_store::MIGRATOR
                .run(&pool)
                .await
                .context("migration failed")?;
            print(json!({ "Migrated": true }))?;
        }
        Command::CreateAccount { name } => {
            let account = store.create_account(&name).await?;
            let key = store.create_access_key(account.account_id, None).await?;
            print(json!({
                "AccountId": account.account_id.to_string(),
                "AccessKeyId": key.access_key_id,
                "AccessKeySecret": key.secret,
            }))?;
        }
        Command::CreateAccessKey {
            account_id,
            user_name,
        } => {
            let key = store
                .create_access_key(account_id, user_name.as_deref())
                .await
                .with_context(|| format!("cannot create a key for account {account_id}"))?;
            print(json!({
                "AccountId": account_id.to_string(),
                "UserName": user_name,
                "AccessKeyId": key.access_key_id,
                "AccessKeySecret": key.secret,
            }))?;
        }
        Command::CreateRamUser {
            account_id,
            user_name,
        } => {
            store.create_ram_user(account_id, &user_name).await?;
            print(json!({ "AccountId": account_id.to_string(), "UserName": user_name }))?;
        }
        Command::CreatePolicy {
            account_id,
            policy_name,
            document,
        } => {
            let document = match document.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
                }
                None => document,
            };
            store
                .create_policy(account_id, &policy_name, &document)
                .await?;
            print(json!({ "AccountId": account_id.to_string(), "PolicyName": policy_name }))?;
        }
        Command::AttachPolicy {
            account_id,
            user_name,
            policy_name,
        } => {
            store
                .attach_policy(account_id, &user_name, &policy_name)
                .await?;
            print(json!({ "UserName": user_name, "PolicyName": policy_name, "Attached": true }))?;
        }
        Command::DetachPolicy {
            account_id,
            user_name,
            policy_name,
        } => {
            store
                .detach_policy(account_id, &user_name, &policy_name)
                .await?;
            print(json!({ "UserName": user_name, "PolicyName": policy_name, "Attached": false }))?;
        }
        Command::DeleteAccessKey { access_key_id } => {
            store.delete_access_key(&access_key_id).await?;
            print(json!({ "AccessKeyId": access_key_id, "Deleted": true }))?;
        }
        Command::ReencryptSecrets => {
            let rewritten = store.reencrypt_secrets().await?;
            print(json!({ "Reencrypted": rewritten, "ActiveKey": settings.secrets.active_key }))?;
        }
        Command::GenerateSecretsKey => unreachable!("handled before connecting"),
        Command::DisableAccessKey { access_key_id } => {
            store.set_access_key_enabled(&access_key_id, false).await?;
            print(json!({ "AccessKeyId": access_key_id, "Enabled": false }))?;
        }
        Command::EnableAccessKey { access_key_id } => {
            store.set_access_key_enabled(&access_key_id, true).await?;
            print(json!({ "AccessKeyId": access_key_id, "Enabled": true }))?;
        }
    }
    pool.close().await;
    Ok(())
}
