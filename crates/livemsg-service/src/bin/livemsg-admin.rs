//! The operator's command: migrations, accounts and AccessKeys.
//!
//! It talks to Postgres directly (it runs where the service runs, never in the gateway) and
//! prints its results as JSON on standard output, so scripts can read them. A new AccessKey
//! secret is printed once, at creation; it cannot be read back.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use livemsg_runtime::{init_tracing, ConfigSource};
use livemsg_service::usecases::accounts;
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
    /// Write a settings file with a fresh secrets key and internal tokens (gateway, tier,
    /// admin), unless it exists (for `LIVEMSG_EXTRA_CONFIG`; docker compose runs this once);
    /// and, with `--gateway-out`, the gateway's own file, holding only its token; with
    /// `--edge-out`, the edge's, holding only the tier token and the edges' session secret.
    InitSecrets {
        /// Where to write the service's file (mode 0600).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Where to write the gateway's file (mode 0600).
        #[arg(long)]
        gateway_out: Option<std::path::PathBuf>,
        /// Where to write the edge's file (mode 0600).
        #[arg(long)]
        edge_out: Option<std::path::PathBuf>,
    },
    /// Print the connection-tier token of one account: a customer's own connection tier
    /// presents it to report joins, leaves and logons and to watch events, for the apps of
    /// that account only. It stays valid while the secrets key it was made under is configured.
    CreateTierToken {
        #[arg(long)]
        account_id: i64,
    },
    /// Create a first account and print its AccessKey, unless an account exists already.
    Bootstrap {
        #[arg(long, default_value = "default")]
        name: String,
    },
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

/// A fresh internal token: 32 random bytes, as 43 characters of URL-safe base64.
fn new_token() -> String {
    livemsg_store::Keyring::new_key_base64()
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "")
}

/// Writes `text` to a new file of mode 0600; false if the file exists already.
fn write_new(path: &std::path::Path, text: &str) -> anyhow::Result<bool> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(false);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(true)
}

/// Writes the service's settings file (a new secrets key and the role tokens) and, if asked,
/// the gateway's (its token alone), unless they exist.
fn init_secrets(
    out: &std::path::Path,
    gateway_out: Option<&std::path::Path>,
    edge_out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if out.exists() {
        return print(json!({ "Written": false, "Path": out, "Reason": "exists already" }));
    }
    let gateway_token = new_token();
    let tier_token = new_token();
    let service = format!(
        "# Generated by livemsg-admin init-secrets. Keep it safe: the key seals the AccessKey\n\
         # secrets in Postgres; losing it loses them.\n\
         [secrets]\nactive_key = \"generated\"\n\n[secrets.keys]\ngenerated = \"{}\"\n\n\
         [internal]\ngateway_token = \"{gateway_token}\"\ntier_token = \"{tier_token}\"\n\
         admin_token = \"{}\"\n",
        livemsg_store::Keyring::new_key_base64(),
        new_token(),
    );
    if let Some(edge_out) = edge_out {
        let edge = format!(
            "# Generated by livemsg-admin init-secrets: the edge's tier token and session secret.\n\
             [internal]\ntier_token = \"{tier_token}\"\n\n[edge]\nsession_secret = \"{}\"\n",
            new_token()
        );
        write_new(edge_out, &edge)?;
    }
    if let Some(gateway_out) = gateway_out {
        let gateway = format!(
            "# Generated by livemsg-admin init-secrets: the gateway's token alone.\n\
             [internal]\ngateway_token = \"{gateway_token}\"\n"
        );
        write_new(gateway_out, &gateway)?;
    }
    write_new(out, &service)?;
    print(json!({ "Written": true, "Path": out, "GatewayPath": gateway_out, "EdgePath": edge_out }))
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
    match &cli.command {
        Command::GenerateSecretsKey => {
            return print(json!({ "Key": livemsg_store::Keyring::new_key_base64() }));
        }
        Command::InitSecrets {
            out,
            gateway_out,
            edge_out,
        } => return init_secrets(out, gateway_out.as_deref(), edge_out.as_deref()),
        _ => {}
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
            let created = accounts::create_account(&store, &name).await?;
            print(json!({
                "AccountId": created.account.account_id.to_string(),
                "AccessKeyId": created.key.access_key_id,
                "AccessKeySecret": created.key.secret,
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
        Command::Bootstrap { name } => match accounts::bootstrap(&store, &name).await? {
            None => print(json!({ "Bootstrapped": false, "Reason": "an account exists already" }))?,
            Some(created) => print(json!({
                "Bootstrapped": true,
                "AccountId": created.account.account_id.to_string(),
                "AccessKeyId": created.key.access_key_id,
                "AccessKeySecret": created.key.secret,
            }))?,
        },
        Command::CreateTierToken { account_id } => {
            if !store.account_exists(account_id).await? {
                anyhow::bail!("account {account_id} does not exist");
            }
            let keyring = settings.secrets.keyring()?;
            let token = livemsg_service::proofs::Proofs::new(&keyring).tier_token(account_id);
            print(json!({ "AccountId": account_id.to_string(), "TierToken": token }))?;
        }
        Command::GenerateSecretsKey | Command::InitSecrets { .. } => {
            unreachable!("handled before connecting")
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
