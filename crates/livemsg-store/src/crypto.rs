//! Encryption of AccessKey secrets at rest.
//!
//! Secrets are sealed with AES-256-GCM (an authenticated cipher) under the keyring's active
//! key, with a fresh random 96-bit nonce each time and the AccessKeyId as associated data, so a
//! ciphertext moved to another key's row does not open. The row records which key sealed it;
//! rotating means adding a new key, making it active and re-encrypting (`livemsg-admin
//! reencrypt-secrets`), after which the old key can be removed from the configuration.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;

use crate::StoreError;

const NONCE_BYTES: usize = 12;

/// Named 256-bit keys, one of them active for new encryptions.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    ciphers: HashMap<String, Aes256Gcm>,
    raw: HashMap<String, [u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.ciphers.keys().collect();
        names.sort();
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("keys", &names)
            .finish()
    }
}

/// Why a keyring could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// No key is configured.
    #[error("no secrets key is configured: set secrets.keys.<name> (32 bytes, base64) and secrets.active_key")]
    Empty,
    /// The active key names no configured key.
    #[error("secrets.active_key {0:?} names no key in secrets.keys")]
    UnknownActive(String),
    /// A key is not 32 bytes of base64.
    #[error("secrets key {0:?} is not 32 bytes encoded in base64")]
    BadKey(String),
}

impl Keyring {
    /// A keyring from base64 keys by name; `active` seals new secrets.
    pub fn new<'a>(
        active: &str,
        keys: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Keyring, KeyringError> {
        let mut ciphers = HashMap::new();
        let mut raw = HashMap::new();
        for (name, encoded) in keys {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| KeyringError::BadKey(name.to_owned()))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| KeyringError::BadKey(name.to_owned()))?;
            ciphers.insert(name.to_owned(), cipher);
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            raw.insert(name.to_owned(), key);
        }
        if ciphers.is_empty() {
            return Err(KeyringError::Empty);
        }
        if !ciphers.contains_key(active) {
            return Err(KeyringError::UnknownActive(active.to_owned()));
        }
        Ok(Keyring {
            active: active.to_owned(),
            ciphers,
            raw,
        })
    }

    /// A keyring with one fresh random key, for tests.
    pub fn generate() -> Keyring {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        Keyring::new("generated", [("generated", encoded.as_str())]).expect("a valid key")
    }

    /// A new random key in the keyring's base64 form (for `livemsg-admin generate-secrets-key`).
    pub fn new_key_base64() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// A 256-bit key for `purpose` (a MAC key, say), derived from each configured key, the
    /// active one first: what the active key signs, any key of the ring verifies, so a rotation
    /// does not invalidate what was signed before it until the old key is removed.
    pub fn derived_keys(&self, purpose: &str) -> Vec<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let derive = |key: &[u8; 32]| {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
                .expect("HMAC takes a key of any length");
            mac.update(b"livemsg/");
            mac.update(purpose.as_bytes());
            let mut out = [0u8; 32];
            out.copy_from_slice(&mac.finalize().into_bytes());
            out
        };
        let mut keys = vec![derive(&self.raw[&self.active])];
        for (name, key) in &self.raw {
            if *name != self.active {
                keys.push(derive(key));
            }
        }
        keys
    }

    /// The name of the active key.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// Seals `secret` for the row named by `access_key_id` (an AccessKeyId, or `app:<app id>`
    /// for an AppKey): `(key name, nonce || ciphertext)`; it opens only for that same name.
    pub fn seal(&self, access_key_id: &str, secret: &str) -> (String, Vec<u8>) {
        let cipher = &self.ciphers[&self.active];
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: access_key_id.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        (self.active.clone(), blob)
    }

    /// Opens a secret sealed by [`Keyring::seal`].
    pub fn open(
        &self,
        key_name: &str,
        access_key_id: &str,
        blob: &[u8],
    ) -> Result<String, StoreError> {
        let cipher = self
            .ciphers
            .get(key_name)
            .ok_or(StoreError::SecretKeyMissing)?;
        if blob.len() <= NONCE_BYTES {
            return Err(StoreError::Corrupt("a sealed secret"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: access_key_id.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Corrupt("a sealed secret"))?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt("a sealed secret"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_key_row_and_keyring() {
        let ring = Keyring::generate();
        let (name, blob) = ring.seal("LTAIa", "s3cret");
        assert_eq!(ring.open(&name, "LTAIa", &blob).unwrap(), "s3cret");
        assert!(!blob.windows(6).any(|w| w == b"s3cret"));
        // Moved to another row: refused.
        assert!(ring.open(&name, "LTAIb", &blob).is_err());
        // Tampered: refused.
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(ring.open(&name, "LTAIa", &bad).is_err());
        // Another keyring: refused.
        assert!(Keyring::generate().open(&name, "LTAIa", &blob).is_err());
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(ring.seal("LTAIa", "s3cret").1, blob);
    }

    #[test]
    fn keyrings_refuse_bad_configuration() {
        assert!(matches!(Keyring::new("a", []), Err(KeyringError::Empty)));
        let key = Keyring::new_key_base64();
        assert!(matches!(
            Keyring::new("b", [("a", key.as_str())]),
            Err(KeyringError::UnknownActive(_))
        ));
        assert!(matches!(
            Keyring::new("a", [("a", "c2hvcnQ=")]),
            Err(KeyringError::BadKey(_))
        ));
        let debug = format!("{:?}", Keyring::new("a", [("a", key.as_str())]).unwrap());
        assert!(!debug.contains(&key));
    }
}
