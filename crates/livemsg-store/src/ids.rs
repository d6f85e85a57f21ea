//! Generation of the identifiers and secrets livemsg hands out.
//!
//! All of them come from the thread-local CSPRNG of `rand`; uniqueness is enforced by the
//! primary keys, and the callers retry on the (astronomically rare) collision.

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn lower_alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(LOWER_ALNUM[rng.random_range(0..LOWER_ALNUM.len())]))
        .collect()
}

/// A 16-digit account id, like Alibaba Cloud's.
pub(crate) fn account_id() -> i64 {
    rand::rng().random_range(1_000_000_000_000_000..10_000_000_000_000_000)
}

/// An AccessKeyId in Alibaba's shape: `LTAI` and 20 letters and digits.
pub(crate) fn access_key_id() -> String {
    format!("LTAI{}", Alphanumeric.sample_string(&mut rand::rng(), 20))
}

/// An AccessKey secret: 30 letters and digits (about 178 bits).
pub(crate) fn access_key_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 30)
}

/// An app id: 8 lowercase letters and digits.
pub(crate) fn app_id() -> String {
    lower_alnum(8)
}

/// An AppKey: 32 lowercase letters and digits.
pub(crate) fn app_key() -> String {
    lower_alnum(32)
}

/// An AppSign handed to client SDKs.
pub(crate) fn app_sign() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_their_shapes() {
        let id = account_id();
        assert_eq!(id.to_string().len(), 16);
        let ak = access_key_id();
        assert!(ak.starts_with("LTAI") && ak.len() == 24);
        assert!(ak.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(access_key_secret().len(), 30);
        let app = app_id();
        assert_eq!(app.len(), 8);
        assert!(livemsg_domain::AppId::parse(&app).is_ok());
        assert_ne!(app_key(), app_key());
    }
}
