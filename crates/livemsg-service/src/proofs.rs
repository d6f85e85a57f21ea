//! What the service signs and later checks itself, with keys derived from the secrets keyring
//! (so every instance agrees, and a key rotation keeps old proofs valid until the old key is
//! removed).
//!
//! * A **caller proof** comes with every AccessKey the gateway resolves: it binds the key's
//!   account for a while, and every public call must carry it. So whoever holds the gateway's
//!   token can act only for accounts whose keys it resolved, and nobody else can act for any.
//! * An **account tier token** lets a customer's own connection tier report joins, leaves and
//!   logons, and watch events, for the apps of one account only
//!   (`livemsg-admin create-tier-token`).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use livemsg_store::Keyring;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a caller proof is valid.
pub const CALLER_PROOF_SECS: i64 = 15 * 60;

/// The prefix of account tier tokens.
const TIER_PREFIX: &str = "lmt1";

/// Signs and checks proofs; see the module documentation.
#[derive(Clone)]
pub struct Proofs {
    caller: Arc<[[u8; 32]]>,
    tier: Arc<[[u8; 32]]>,
}

impl std::fmt::Debug for Proofs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proofs([REDACTED])")
    }
}

fn mac(key: &[u8; 32], message: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn any_matches(keys: &[[u8; 32]], message: &str, given: &str) -> bool {
    keys.iter()
        .any(|key| bool::from(mac(key, message).as_bytes().ct_eq(given.as_bytes())))
}

impl Proofs {
    /// Proofs under keys derived from `keyring`.
    pub fn new(keyring: &Keyring) -> Self {
        Proofs {
            caller: keyring.derived_keys("caller-proof").into(),
            tier: keyring.derived_keys("tier-token").into(),
        }
    }

    /// A proof, valid until `now + CALLER_PROOF_SECS`, that calls for `account_id` come from a
    /// gateway that resolved one of its keys.
    pub fn caller_proof(&self, account_id: i64, now: i64) -> String {
        let expires = now + CALLER_PROOF_SECS;
        let message = format!("caller\n{account_id}\n{expires}");
        format!("{expires}.{}", mac(&self.caller[0], &message))
    }

    /// Whether `proof` is a valid, unexpired proof for `account_id`.
    pub fn caller_proven(&self, account_id: i64, proof: &str, now: i64) -> bool {
        let Some((expires, given)) = proof.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        expires >= now
            && any_matches(
                &self.caller,
                &format!("caller\n{account_id}\n{expires}"),
                given,
            )
    }

    /// The tier token of `account_id`: `lmt1.<account id>.<mac>`.
    pub fn tier_token(&self, account_id: i64) -> String {
        let mac = mac(&self.tier[0], &format!("tier\n{account_id}"));
        format!("{TIER_PREFIX}.{account_id}.{mac}")
    }

    /// The account a tier token is for, if it is one.
    pub fn tier_account(&self, token: &str) -> Option<i64> {
        let mut parts = token.splitn(3, '.');
        let (Some(TIER_PREFIX), Some(account), Some(given)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let account_id: i64 = account.parse().ok().filter(|id| *id > 0)?;
        any_matches(&self.tier, &format!("tier\n{account_id}"), given).then_some(account_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_proofs_bind_the_account_until_they_expire() {
        let proofs = Proofs::new(&Keyring::generate());
        let proof = proofs.caller_proof(42, 1_000);
        assert!(proofs.caller_proven(42, &proof, 1_000));
        assert!(proofs.caller_proven(42, &proof, 1_000 + CALLER_PROOF_SECS));
        assert!(!proofs.caller_proven(42, &proof, 1_001 + CALLER_PROOF_SECS));
        assert!(!proofs.caller_proven(43, &proof, 1_000), "another account");
        let forged_expiry = proof.replacen(
            &(1_000 + CALLER_PROOF_SECS).to_string(),
            &(9_000 + CALLER_PROOF_SECS).to_string(),
            1,
        );
        assert!(!proofs.caller_proven(42, &forged_expiry, 5_000));
        for junk in ["", ".", "x.y", "99999999999.00"] {
            assert!(!proofs.caller_proven(42, junk, 1_000), "{junk:?}");
        }
        let other = Proofs::new(&Keyring::generate());
        assert!(!other.caller_proven(42, &proof, 1_000), "another keyring");
    }

    #[test]
    fn tier_tokens_name_one_account() {
        let proofs = Proofs::new(&Keyring::generate());
        let token = proofs.tier_token(1_234_567_890_123_456);
        assert!(token.starts_with("lmt1.1234567890123456."));
        assert_eq!(proofs.tier_account(&token), Some(1_234_567_890_123_456));
        let other = token.replacen("1234567890123456", "1234567890123457", 1);
        assert_eq!(proofs.tier_account(&other), None);
        for junk in ["", "lmt1", "lmt1.x.y", "lmt2.1.00", "lmt1.-5.00"] {
            assert_eq!(proofs.tier_account(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn proofs_survive_a_key_rotation_until_the_old_key_goes() {
        let old = Keyring::new_key_base64();
        let new = Keyring::new_key_base64();
        let before = Proofs::new(&Keyring::new("old", [("old", old.as_str())]).unwrap());
        let token = before.tier_token(7);
        let rotated = Keyring::new("new", [("old", old.as_str()), ("new", new.as_str())]).unwrap();
        assert_eq!(Proofs::new(&rotated).tier_account(&token), Some(7));
        let old_gone = Keyring::new("new", [("new", new.as_str())]).unwrap();
        assert_eq!(Proofs::new(&old_gone).tier_account(&token), None);
    }
}
