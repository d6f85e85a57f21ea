//! Client credentials: the app token a customer's backend mints (as the cloud's client SDK
//! expects it), and the resume key an edge hands out with a login.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The app token: `sha256_hex(appId + appKey + userId + nonce + timestamp + role)`, lower-case
/// hex, `timestamp` being the token's expiry in Unix seconds.
pub fn app_token(
    app_id: &str,
    app_key: &str,
    user_id: &str,
    nonce: &str,
    expiry: i64,
    role: &str,
) -> String {
    let mut digest = Sha256::new();
    for part in [app_id, app_key, user_id, nonce, &expiry.to_string(), role] {
        digest.update(part.as_bytes());
    }
    hex::encode(digest.finalize())
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It is not the token of these values under the app's key.
    Forged,
    /// Its expiry has passed.
    Expired,
    /// Its role is neither empty nor `admin`.
    Role,
}

/// Checks a token against the app's key at `now` (Unix seconds).
#[allow(clippy::too_many_arguments)]
pub fn check(
    app_id: &str,
    app_key: &str,
    user_id: &str,
    nonce: &str,
    expiry: i64,
    role: &str,
    token: &str,
    now: i64,
) -> Result<(), Refused> {
    if !role.is_empty() && role != "admin" {
        return Err(Refused::Role);
    }
    let expected = app_token(app_id, app_key, user_id, nonce, expiry, role);
    if !bool::from(
        expected
            .as_bytes()
            .ct_eq(token.to_ascii_lowercase().as_bytes()),
    ) {
        return Err(Refused::Forged);
    }
    if expiry <= now {
        return Err(Refused::Expired);
    }
    Ok(())
}

/// The key a client resumes its session with (on this edge or another of the deployment):
/// an HMAC, under the edges' shared secret, of the session and what it is bound to.
pub fn resume_key(
    secret: &str,
    app_id: &str,
    user_id: &str,
    device_id: &str,
    session_id: &str,
    role: &str,
    expiry: i64,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in [
        app_id,
        user_id,
        device_id,
        session_id,
        role,
        &expiry.to_string(),
    ] {
        mac.update(part.as_bytes());
        mac.update(b"\0");
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_documented_digest() {
        // The vectors of the reference (alibaba-protocol.md 4.3).
        assert_eq!(
            app_token("demoApp", "demoKey", "user_1", "AK_4", 1_700_000_000, ""),
            "46d9baae9a5635a8db350cd9010f0a49a3aceaa233a0aec2f58293cc22b0c9ef"
        );
        assert_eq!(
            app_token(
                "demoApp",
                "demoKey",
                "user_1",
                "AK_4",
                1_700_000_000,
                "admin"
            ),
            "5b86600c376fd9c2496a14e3717c17c8341815ba5b88a9f9691386a902ff0fe1"
        );
    }

    #[test]
    fn forged_expired_and_odd_tokens_are_refused() {
        let token = app_token("app", "key", "u", "n", 2_000, "");
        assert_eq!(
            check("app", "key", "u", "n", 2_000, "", &token, 1_000),
            Ok(())
        );
        assert_eq!(
            check(
                "app",
                "key",
                "u",
                "n",
                2_000,
                "",
                &token.to_uppercase(),
                1_000
            ),
            Ok(())
        );
        assert_eq!(
            check("app", "other", "u", "n", 2_000, "", &token, 1_000),
            Err(Refused::Forged)
        );
        assert_eq!(
            check("app", "key", "v", "n", 2_000, "", &token, 1_000),
            Err(Refused::Forged)
        );
        assert_eq!(
            check("app", "key", "u", "n", 2_000, "admin", &token, 1_000),
            Err(Refused::Forged)
        );
        assert_eq!(
            check("app", "key", "u", "n", 2_000, "", &token, 2_000),
            Err(Refused::Expired)
        );
        assert_eq!(
            check("app", "key", "u", "n", 2_000, "root", &token, 1_000),
            Err(Refused::Role)
        );
    }

    #[test]
    fn resume_keys_bind_their_session() {
        let key = resume_key("s", "app", "u", "d", "sess", "", 99);
        assert_eq!(key, resume_key("s", "app", "u", "d", "sess", "", 99));
        assert_ne!(key, resume_key("s", "app", "u", "d", "other", "", 99));
        assert_ne!(key, resume_key("t", "app", "u", "d", "sess", "", 99));
        assert_ne!(key, resume_key("s", "app", "u", "d", "sess", "admin", 99));
    }
}
