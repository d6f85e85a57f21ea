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
    /// Create another AccessKey pair for an account.
    CreateAccessKey {
        /// The 16-digit account id.
        #[arg(long)]
        account_id: i64,
    },
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
    let store = Store::new(pool.clone(), settings.groups.super_group_threshold);
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
            let key = store.create_access_key(account.account_id).await?;
            print(json!({
                "AccountId": account.account_id.to_string(),
                "AccessKeyId": key.access_key_id,
                "AccessKeySecret": key.secret,
            }))?;
        }
        Command::CreateAccessKey { account_id } => {
            let key = store
                .create_access_key(account_id)
                .await
                .with_context(|| format!("cannot create a key for account {account_id}"))?;
            print(json!({
                "AccountId": account_id.to_string(),
                "AccessKeyId": key.access_key_id,
                "AccessKeySecret": key.secret,
            }))?;
        }
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
