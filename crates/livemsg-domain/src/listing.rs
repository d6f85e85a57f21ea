//! Listing apps and groups: the status filter, page-number pages and the cursors of the
//! forward listings.
//!
//! The forward listings (`ListLiveMessageApps`, `ListLiveMessageGroups`) are keyset scans in
//! creation order: a cursor names the key of the next item to return (an app's or a group's
//! internal number, which grows with creation), so an item present for the whole traversal is
//! returned exactly once whatever is created or deleted between pages. On the wire a cursor is
//! a `long`, as the API declares it: the key shifted left by [`TAG_BITS`] with a tag of the
//! listing it belongs to (the app or account, data center, order and filter) in the low bits.
//! A cursor of another listing, or a number nobody issued, is refused with `InputInvalid`
//! instead of silently starting somewhere else. The tag is a checksum against mistakes, not a
//! secret: a cursor only ever positions a scan of the caller's own listing.

use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Bits of a cursor that tag its listing.
pub const TAG_BITS: u32 = 20;

/// The largest key a cursor can carry.
pub const MAX_CURSOR_KEY: i64 = i64::MAX >> TAG_BITS;

/// Which groups a listing shows (`GroupStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    /// `0`: live and deleted groups (the default).
    All,
    /// `1`: groups that are not deleted.
    Live,
    /// `2`: deleted groups (until they are purged).
    Deleted,
}

impl GroupStatus {
    /// Checks a status already read as a number.
    pub fn new(value: i64) -> Result<Self, ApiError> {
        match value {
            0 => Ok(GroupStatus::All),
            1 => Ok(GroupStatus::Live),
            2 => Ok(GroupStatus::Deleted),
            _ => Err(ApiError::invalid(
                "GroupStatus",
                "must be 0 (all), 1 (not deleted) or 2 (deleted)",
            )),
        }
    }

    /// The wire number.
    pub fn as_i64(self) -> i64 {
        match self {
            GroupStatus::All => 0,
            GroupStatus::Live => 1,
            GroupStatus::Deleted => 2,
        }
    }

    /// The `deleted` value the groups must have, if the filter restricts it.
    pub fn deleted(self) -> Option<bool> {
        match self {
            GroupStatus::All => None,
            GroupStatus::Live => Some(false),
            GroupStatus::Deleted => Some(true),
        }
    }
}

/// A page of `ListLiveMessageGroupByPage`: `PageNumber` 1 to 10,000 (default 1), `PageSize`
/// 1 to 50 (default 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberedPage {
    number: u32,
    size: u32,
}

impl NumberedPage {
    /// The highest page number.
    pub const MAX_NUMBER: i64 = 10_000;
    /// The largest page.
    pub const MAX_SIZE: i64 = 50;
    /// The page size when none is given.
    pub const DEFAULT_SIZE: i64 = 20;

    /// Checks a page number and size, either absent for its default.
    pub fn new(number: Option<i64>, size: Option<i64>) -> Result<Self, ApiError> {
        let number = number.unwrap_or(1);
        if !(1..=Self::MAX_NUMBER).contains(&number) {
            return Err(ApiError::invalid(
                "PageNumber",
                format_args!("must be between 1 and {}", Self::MAX_NUMBER),
            ));
        }
        let size = size.unwrap_or(Self::DEFAULT_SIZE);
        if !(1..=Self::MAX_SIZE).contains(&size) {
            return Err(ApiError::invalid(
                "PageSize",
                format_args!("must be between 1 and {}", Self::MAX_SIZE),
            ));
        }
        Ok(NumberedPage {
            number: number as u32,
            size: size as u32,
        })
    }

    /// The page number, from 1.
    pub fn number(self) -> u32 {
        self.number
    }

    /// The page size.
    pub fn size(self) -> u32 {
        self.size
    }

    /// How many items come before the page.
    pub fn offset(self) -> i64 {
        i64::from(self.number - 1) * i64::from(self.size)
    }
}

/// Where a forward listing continues: `None` for the beginning, else the key of the next item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Option<i64>);

impl Cursor {
    /// The beginning of the listing.
    pub const START: Cursor = Cursor(None);

    /// Reads the `NextPageToken` of a request to `listing`: absent, `-1` and `0` are the
    /// beginning; anything else must be a cursor this listing issued.
    pub fn parse(listing: &str, value: Option<i64>) -> Result<Self, ApiError> {
        match value {
            None | Some(-1) | Some(0) => Ok(Cursor::START),
            Some(v) if v > 0 => {
                let key = v >> TAG_BITS;
                if key > 0 && v & TAG_MASK == tag(listing, key) {
                    Ok(Cursor(Some(key)))
                } else {
                    Err(ApiError::invalid(
                        "NextPageToken",
                        "is not a token of this listing",
                    ))
                }
            }
            Some(_) => Err(ApiError::invalid(
                "NextPageToken",
                "must be -1, 0 or a token of this listing",
            )),
        }
    }

    /// The cursor of the item with `key` in `listing`, as the response sends it.
    pub fn issue(listing: &str, key: i64) -> i64 {
        debug_assert!((1..=MAX_CURSOR_KEY).contains(&key), "cursor key {key}");
        (key << TAG_BITS) | tag(listing, key)
    }

    /// The key of the next item, if the listing does not start at the beginning.
    pub fn key(self) -> Option<i64> {
        self.0
    }
}

const TAG_MASK: i64 = (1 << TAG_BITS) - 1;

fn tag(listing: &str, key: i64) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"livemsg-cursor\0")
        .chain_update(listing.as_bytes())
        .chain_update(b"\0")
        .chain_update(key.to_be_bytes())
        .finalize();
    let low = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    i64::from(low) & TAG_MASK
}

/// The listing name of an app's groups in one order under one filter.
pub fn groups_listing(app_id: &str, descending: bool, status: GroupStatus) -> String {
    format!(
        "groups|{app_id}|{}|{}",
        u8::from(descending),
        status.as_i64()
    )
}

/// The listing name of an account's apps in one data center in one order.
pub fn apps_listing(account_id: i64, data_center: &str, descending: bool) -> String {
    format!("apps|{account_id}|{data_center}|{}", u8::from(descending))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn group_status_is_zero_one_or_two() {
        assert_eq!(GroupStatus::new(0).unwrap().deleted(), None);
        assert_eq!(GroupStatus::new(1).unwrap().deleted(), Some(false));
        assert_eq!(GroupStatus::new(2).unwrap().deleted(), Some(true));
        for bad in [-1, 3, i64::MAX] {
            let err = GroupStatus::new(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InputInvalid);
            assert!(err.message.starts_with("GroupStatus "), "{}", err.message);
        }
    }

    #[test]
    fn numbered_pages_have_defaults_and_bounds() {
        let page = NumberedPage::new(None, None).unwrap();
        assert_eq!((page.number(), page.size(), page.offset()), (1, 20, 0));
        let last = NumberedPage::new(Some(10_000), Some(50)).unwrap();
        assert_eq!(last.offset(), 9_999 * 50);
        for (number, size, field) in [
            (Some(0), None, "PageNumber"),
            (Some(10_001), None, "PageNumber"),
            (Some(-1), None, "PageNumber"),
            (None, Some(0), "PageSize"),
            (None, Some(51), "PageSize"),
        ] {
            let err = NumberedPage::new(number, size).unwrap_err();
            assert_eq!(err.code, ErrorCode::InputInvalid);
            assert!(err.message.starts_with(field), "{}", err.message);
        }
    }

    #[test]
    fn cursors_round_trip_within_their_listing() {
        let listing = groups_listing("app1", false, GroupStatus::All);
        for key in [1, 2, 1_000, MAX_CURSOR_KEY] {
            let token = Cursor::issue(&listing, key);
            assert!(token > 0);
            assert_eq!(
                Cursor::parse(&listing, Some(token)).unwrap().key(),
                Some(key)
            );
        }
        for start in [None, Some(-1), Some(0)] {
            assert_eq!(Cursor::parse(&listing, start).unwrap(), Cursor::START);
        }
    }

    #[test]
    fn cursors_of_another_listing_or_made_up_are_refused() {
        let mine = groups_listing("app1", false, GroupStatus::All);
        let others = [
            groups_listing("app2", false, GroupStatus::All),
            groups_listing("app1", true, GroupStatus::All),
            groups_listing("app1", false, GroupStatus::Deleted),
            apps_listing(1, "cn-shanghai", false),
        ];
        // Over many keys, a cursor of another listing is accepted only by the chance of a
        // tag collision (one in a million); none of these collide.
        for key in 1..2_000 {
            let token = Cursor::issue(&mine, key);
            for other in &others {
                let err = Cursor::parse(other, Some(token)).unwrap_err();
                assert_eq!(err.message, "NextPageToken is not a token of this listing.");
            }
        }
        for made_up in [1, 5, 1_001, 1 << TAG_BITS, i64::MAX] {
            assert_eq!(
                Cursor::parse(&mine, Some(made_up)).unwrap_err().code,
                ErrorCode::InputInvalid,
                "{made_up}"
            );
        }
        assert_eq!(
            Cursor::parse(&mine, Some(-2)).unwrap_err().message,
            "NextPageToken must be -1, 0 or a token of this listing."
        );
    }
}
