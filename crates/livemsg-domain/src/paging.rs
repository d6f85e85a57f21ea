//! Page sizes, sort orders and page tokens of the list operations.
//!
//! A page token is a *position* in the group's join order, not a page number. Every member of
//! a normal group gets a position when it joins, strictly increasing within the group. A token
//! `t` means "continue at position `t`": ascending lists return positions `>= t`, descending lists
//! positions `<= t`. The token in a response is the position of the first member not yet
//! returned, so a member present for the whole traversal is returned exactly once, whatever
//! joins and leaves happen between pages. `0` (or no token) starts at the beginning; a
//! response token of `0` means there is nothing more.

use crate::error::ApiError;

/// How many users a page holds: 10 to 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// The smallest page.
    pub const MIN: u32 = 10;
    /// The largest page.
    pub const MAX: u32 = 50;

    /// Checks a page size already read as a number.
    pub fn new(value: i64) -> Result<Self, ApiError> {
        if !(i64::from(Self::MIN)..=i64::from(Self::MAX)).contains(&value) {
            return Err(ApiError::invalid(
                "PageSize",
                format_args!("must be between {} and {}", Self::MIN, Self::MAX),
            ));
        }
        Ok(PageSize(value as u32))
    }

    /// The size.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Join-time order of a user list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortType {
    /// Earliest joiner first (`1`).
    Ascending,
    /// Latest joiner first (`2`).
    Descending,
}

impl SortType {
    /// Checks a sort type already read as a number.
    pub fn new(value: i64) -> Result<Self, ApiError> {
        match value {
            1 => Ok(SortType::Ascending),
            2 => Ok(SortType::Descending),
            _ => Err(ApiError::invalid(
                "SortType",
                "must be 1 (ascending) or 2 (descending)",
            )),
        }
    }

    /// The wire number.
    pub fn as_i32(self) -> i32 {
        match self {
            SortType::Ascending => 1,
            SortType::Descending => 2,
        }
    }
}

/// Where a list continues: `None` for the beginning, else the position to continue at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageToken(Option<i64>);

impl PageToken {
    /// The beginning of the list.
    pub const START: PageToken = PageToken(None);

    /// Checks a token already read as a number; `0` is the beginning.
    pub fn new(value: i64) -> Result<Self, ApiError> {
        match value {
            0 => Ok(PageToken(None)),
            v if v > 0 => Ok(PageToken(Some(v))),
            _ => Err(ApiError::invalid("NextPageToken", "must not be negative")),
        }
    }

    /// The position to continue at, if any.
    pub fn position(self) -> Option<i64> {
        self.0
    }

    /// The wire value: `0` for the beginning (or, in a response, for "no more").
    pub fn as_i64(self) -> i64 {
        self.0.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn page_size_is_ten_to_fifty() {
        assert_eq!(PageSize::new(10).unwrap().get(), 10);
        assert_eq!(PageSize::new(50).unwrap().get(), 50);
        for bad in [9, 51, 0, -10, i64::MAX] {
            let err = PageSize::new(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InputInvalid, "{bad}");
            assert_eq!(err.message, "PageSize must be between 10 and 50.");
        }
    }

    #[test]
    fn sort_type_is_one_or_two() {
        assert_eq!(SortType::new(1).unwrap(), SortType::Ascending);
        assert_eq!(SortType::new(2).unwrap(), SortType::Descending);
        for bad in [0, 3, -1] {
            assert_eq!(
                SortType::new(bad).unwrap_err().code,
                ErrorCode::InputInvalid
            );
        }
        assert_eq!(SortType::Descending.as_i32(), 2);
    }

    #[test]
    fn page_token_zero_starts_at_the_beginning() {
        assert_eq!(PageToken::new(0).unwrap(), PageToken::START);
        assert_eq!(PageToken::new(17).unwrap().position(), Some(17));
        assert_eq!(PageToken::new(17).unwrap().as_i64(), 17);
        assert_eq!(
            PageToken::new(-1).unwrap_err().message,
            "NextPageToken must not be negative."
        );
    }
}
