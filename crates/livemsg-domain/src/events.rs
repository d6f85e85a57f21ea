//! Membership events: what happened to a group, in order.
//!
//! Every event carries the group's absolute member count after it and a per-group sequence
//! number without gaps, so a consumer that missed something knows it and can heal by reading the
//! count. A normal group reports each user who enters or leaves; a super group reports no
//! individual users (its list is gone), only its changes of state.

use crate::group::{GroupState, MembershipChange};

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A user joined a normal group.
    UserEntered,
    /// A user left a normal group.
    UserLeft,
    /// The group passed the threshold and became a super group.
    BecameSuper,
    /// The last member left.
    Closed,
    /// A closed group got a member again and is normal.
    Reopened,
    /// A super group's member count, reported at most once per interval when it changed.
    MemberCount,
    /// A user logged on (an app event, in no group).
    Logon,
    /// A user logged off (an app event, in no group).
    Logoff,
    /// The group was deleted (its members left first, each with its own event).
    GroupDeleted,
    /// A deleted group was recovered (with no members).
    GroupRecovered,
    /// The group's info or administrators changed (the event carries both, as they are now).
    GroupInfoChanged,
    /// A member's user info changed (the event carries the user and the new info).
    UserInfoChanged,
    /// The app was disabled (an app event, in no group).
    AppDisabled,
    /// The app was enabled again (an app event, in no group).
    AppEnabled,
    /// A user was kicked out of the group (after its leave, in a normal group).
    Kicked,
}

impl EventKind {
    /// The stored value.
    pub fn as_i16(self) -> i16 {
        match self {
            EventKind::UserEntered => 1,
            EventKind::UserLeft => 2,
            EventKind::BecameSuper => 3,
            EventKind::Closed => 4,
            EventKind::Reopened => 5,
            EventKind::MemberCount => 6,
            EventKind::Logon => 7,
            EventKind::Logoff => 8,
            EventKind::GroupDeleted => 9,
            EventKind::GroupRecovered => 10,
            EventKind::GroupInfoChanged => 11,
            EventKind::UserInfoChanged => 12,
            EventKind::AppDisabled => 13,
            EventKind::AppEnabled => 14,
            EventKind::Kicked => 15,
        }
    }

    /// Every kind, in stored order.
    pub const ALL: [EventKind; 15] = [
        EventKind::UserEntered,
        EventKind::UserLeft,
        EventKind::BecameSuper,
        EventKind::Closed,
        EventKind::Reopened,
        EventKind::MemberCount,
        EventKind::Logon,
        EventKind::Logoff,
        EventKind::GroupDeleted,
        EventKind::GroupRecovered,
        EventKind::GroupInfoChanged,
        EventKind::UserInfoChanged,
        EventKind::AppDisabled,
        EventKind::AppEnabled,
        EventKind::Kicked,
    ];

    /// Whether the event belongs to the app rather than to a group (no group, no sequence
    /// number, no count).
    pub fn is_app_event(self) -> bool {
        matches!(
            self,
            EventKind::Logon | EventKind::Logoff | EventKind::AppDisabled | EventKind::AppEnabled
        )
    }

    /// Reads the stored value.
    pub fn from_i16(value: i16) -> Option<Self> {
        Some(match value {
            1 => EventKind::UserEntered,
            2 => EventKind::UserLeft,
            3 => EventKind::BecameSuper,
            4 => EventKind::Closed,
            5 => EventKind::Reopened,
            6 => EventKind::MemberCount,
            7 => EventKind::Logon,
            8 => EventKind::Logoff,
            9 => EventKind::GroupDeleted,
            10 => EventKind::GroupRecovered,
            11 => EventKind::GroupInfoChanged,
            12 => EventKind::UserInfoChanged,
            13 => EventKind::AppDisabled,
            14 => EventKind::AppEnabled,
            15 => EventKind::Kicked,
            _ => return None,
        })
    }
}

/// The events one membership operation produces, in order: the user's own event (normal groups
/// only), then the change of state it caused. `joined` tells a join from a leave.
pub fn events_of(change: &MembershipChange, joined: bool) -> Vec<EventKind> {
    if !change.changed {
        return Vec::new();
    }
    let mut events = Vec::with_capacity(2);
    if change.before == GroupState::Closed && change.after != GroupState::Closed {
        events.push(EventKind::Reopened);
    }
    // Per-user events are for lists that exist: not in a super group, nor for the join that
    // makes one (the list it would join is cleared by that very join).
    if change.before != GroupState::Super && change.after != GroupState::Super {
        events.push(if joined {
            EventKind::UserEntered
        } else {
            EventKind::UserLeft
        });
    }
    if change.became_super() {
        events.push(EventKind::BecameSuper);
    }
    if change.before != GroupState::Closed && change.after == GroupState::Closed {
        events.push(EventKind::Closed);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use GroupState::*;

    fn change(before: GroupState, after: GroupState, changed: bool) -> MembershipChange {
        MembershipChange {
            before,
            after,
            member_count: 1,
            changed,
        }
    }

    #[test]
    fn normal_groups_report_each_user() {
        assert_eq!(
            events_of(&change(Normal, Normal, true), true),
            [EventKind::UserEntered]
        );
        assert_eq!(
            events_of(&change(Normal, Normal, true), false),
            [EventKind::UserLeft]
        );
    }

    #[test]
    fn nothing_changed_nothing_reported() {
        assert!(events_of(&change(Normal, Normal, false), true).is_empty());
        assert!(events_of(&change(Super, Super, false), false).is_empty());
    }

    #[test]
    fn super_groups_report_only_changes_of_state() {
        assert!(events_of(&change(Super, Super, true), true).is_empty());
        assert_eq!(
            events_of(&change(Normal, Super, true), true),
            [EventKind::BecameSuper]
        );
        assert_eq!(
            events_of(&change(Super, Closed, true), false),
            [EventKind::Closed]
        );
    }

    #[test]
    fn closing_and_reopening_are_events_of_their_own() {
        assert_eq!(
            events_of(&change(Normal, Closed, true), false),
            [EventKind::UserLeft, EventKind::Closed]
        );
        assert_eq!(
            events_of(&change(Closed, Normal, true), true),
            [EventKind::Reopened, EventKind::UserEntered]
        );
        assert_eq!(
            events_of(&change(Closed, Super, true), true),
            [EventKind::Reopened, EventKind::BecameSuper]
        );
    }

    #[test]
    fn stored_kinds_round_trip() {
        for (i, kind) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.as_i16(), i as i16 + 1);
            assert_eq!(EventKind::from_i16(kind.as_i16()), Some(kind));
        }
        assert_eq!(EventKind::from_i16(0), None);
        assert_eq!(EventKind::from_i16(16), None);
        let app_events: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| k.is_app_event())
            .collect();
        assert_eq!(
            app_events,
            [
                EventKind::Logon,
                EventKind::Logoff,
                EventKind::AppDisabled,
                EventKind::AppEnabled
            ]
        );
    }
}
