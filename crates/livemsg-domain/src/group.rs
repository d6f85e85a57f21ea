//! The life of a group: normal, super, closed.
//!
//! A group starts normal: its members are kept in join order and can be listed. When a join
//! takes it past the threshold (2,000 members by default) it becomes a super group: the
//! join-ordered list is dropped at once and listing answers `SuperLargeGroup`, while the member
//! count stays exact. When the last member leaves, the group closes; the next join reopens it
//! as a normal group. The store applies these transitions inside the transaction that changes
//! membership, so they happen exactly once however many joins race.

use crate::error::ApiError;
use crate::ids::UserId;

/// The member count past which a group becomes a super group.
pub const DEFAULT_SUPER_GROUP_THRESHOLD: i64 = 2_000;

/// The most administrators a group has.
pub const MAX_ADMINISTRATORS: usize = 3;

/// Checks a group's administrators, as `field` names them: user ids, at most
/// [`MAX_ADMINISTRATORS`]; a name given twice counts once.
pub fn administrators(field: &str, ids: &[String]) -> Result<Vec<UserId>, ApiError> {
    let mut admins: Vec<UserId> = Vec::with_capacity(ids.len());
    for id in ids {
        let admin = UserId::parse_field(field, id)?;
        if !admins.contains(&admin) {
            admins.push(admin);
        }
    }
    if admins.len() > MAX_ADMINISTRATORS {
        return Err(ApiError::invalid(
            field,
            format_args!("must list at most {MAX_ADMINISTRATORS} users"),
        ));
    }
    Ok(admins)
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// Members are listed in join order.
    Normal,
    /// More members than the threshold: only the count is kept in order-free form.
    Super,
    /// Every member has left; the next join reopens the group as normal.
    Closed,
}

impl GroupState {
    /// The value stored in the database.
    pub fn as_i16(self) -> i16 {
        match self {
            GroupState::Normal => 0,
            GroupState::Super => 1,
            GroupState::Closed => 2,
        }
    }

    /// Reads the stored value.
    pub fn from_i16(value: i16) -> Option<Self> {
        match value {
            0 => Some(GroupState::Normal),
            1 => Some(GroupState::Super),
            2 => Some(GroupState::Closed),
            _ => None,
        }
    }

    /// The state after new members joined, leaving `count` members.
    pub fn after_join(self, count: i64, threshold: i64) -> GroupState {
        if self == GroupState::Super || count > threshold {
            GroupState::Super
        } else {
            GroupState::Normal
        }
    }

    /// The state after members left, leaving `count` members.
    pub fn after_leave(self, count: i64) -> GroupState {
        if count == 0 {
            GroupState::Closed
        } else {
            self
        }
    }

    /// Whether the join-ordered user list may be read in this state.
    pub fn check_listable(self) -> Result<(), ApiError> {
        match self {
            GroupState::Super => Err(ApiError::new(
                crate::ErrorCode::SuperLargeGroup,
                "The group has more than the super group threshold of members; its user list cannot be queried.",
            )),
            GroupState::Normal | GroupState::Closed => Ok(()),
        }
    }
}

/// What one membership operation did to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipChange {
    /// The state before the operation.
    pub before: GroupState,
    /// The state after it.
    pub after: GroupState,
    /// The exact member count after it.
    pub member_count: i64,
    /// Whether membership changed (false for a repeated join or a leave of a non-member).
    pub changed: bool,
}

impl MembershipChange {
    /// Whether this operation turned the group into a super group.
    pub fn became_super(&self) -> bool {
        self.before != GroupState::Super && self.after == GroupState::Super
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const T: i64 = DEFAULT_SUPER_GROUP_THRESHOLD;

    #[test]
    fn the_two_thousand_and_first_member_makes_a_super_group() {
        assert_eq!(GroupState::Normal.after_join(2_000, T), GroupState::Normal);
        assert_eq!(GroupState::Normal.after_join(2_001, T), GroupState::Super);
    }

    #[test]
    fn a_super_group_stays_super_until_it_closes() {
        assert_eq!(GroupState::Super.after_leave(1), GroupState::Super);
        assert_eq!(GroupState::Super.after_join(5, T), GroupState::Super);
        assert_eq!(GroupState::Super.after_leave(0), GroupState::Closed);
    }

    #[test]
    fn a_closed_group_reopens_normal_on_the_next_join() {
        assert_eq!(GroupState::Closed.after_join(1, T), GroupState::Normal);
        assert_eq!(GroupState::Normal.after_leave(0), GroupState::Closed);
        // A batch that reopens a closed group past the threshold goes straight to super.
        assert_eq!(GroupState::Closed.after_join(2_001, T), GroupState::Super);
    }

    #[test]
    fn the_threshold_is_a_parameter() {
        assert_eq!(GroupState::Normal.after_join(11, 10), GroupState::Super);
        assert_eq!(GroupState::Normal.after_join(10, 10), GroupState::Normal);
    }

    #[test]
    fn only_super_groups_refuse_listing() {
        assert!(GroupState::Normal.check_listable().is_ok());
        assert!(GroupState::Closed.check_listable().is_ok());
        assert_eq!(
            GroupState::Super.check_listable().unwrap_err().code,
            ErrorCode::SuperLargeGroup
        );
    }

    #[test]
    fn a_group_has_at_most_three_distinct_administrators() {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            administrators("Administrators", &ids(&["a", "b", "a", "c"]))
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            administrators("Administrators", &ids(&["a", "b", "c", "d"]))
                .unwrap_err()
                .message,
            "Administrators must list at most 3 users."
        );
        assert!(administrators("AdminList", &ids(&["a b"])).is_err());
    }

    #[test]
    fn stored_values_round_trip() {
        for s in [GroupState::Normal, GroupState::Super, GroupState::Closed] {
            assert_eq!(GroupState::from_i16(s.as_i16()), Some(s));
        }
        assert_eq!(GroupState::from_i16(9), None);
    }

    #[test]
    fn became_super_is_true_only_on_the_transition() {
        let change = MembershipChange {
            before: GroupState::Normal,
            after: GroupState::Super,
            member_count: 2_001,
            changed: true,
        };
        assert!(change.became_super());
        let again = MembershipChange {
            before: GroupState::Super,
            ..change
        };
        assert!(!again.became_super());
    }
}
