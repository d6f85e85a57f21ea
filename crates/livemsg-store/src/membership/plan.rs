//! Working out one group's batch in memory, on its locked row: the join positions, the count,
//! the state transitions and the events, collected as columns for the set-wise writes.

use std::collections::{HashMap, HashSet};

use livemsg_domain::events::{events_of, EventKind};
use livemsg_domain::{GroupState, MembershipChange};

use super::{GroupOps, MembershipOp};

/// The locked state of one group inside a membership transaction.
pub(super) struct LockedGroup {
    pub(super) group_pk: i64,
    pub(super) state: GroupState,
    pub(super) member_count: i64,
    pub(super) next_position: i64,
    pub(super) total_joins: i64,
    pub(super) next_event_seq: i64,
}

/// The new state of every changed group and the events to append, as columns for one
/// `UPDATE ... FROM unnest(...)` and one `INSERT ... SELECT FROM unnest(...)`.
#[derive(Default)]
pub(super) struct Writes {
    pub(super) deleted_pks: Vec<i64>,
    pub(super) deleted_users: Vec<String>,
    pub(super) upsert_pks: Vec<i64>,
    pub(super) upsert_users: Vec<String>,
    pub(super) upsert_positions: Vec<Option<i64>>,
    pub(super) upsert_infos: Vec<Option<String>>,
    pub(super) cleared_pks: Vec<i64>,
    pub(super) pks: Vec<i64>,
    pub(super) states: Vec<i16>,
    pub(super) counts: Vec<i64>,
    pub(super) positions: Vec<i64>,
    pub(super) joins: Vec<i64>,
    pub(super) next_seqs: Vec<i64>,
    pub(super) became_super: Vec<bool>,
    pub(super) event_pks: Vec<i64>,
    pub(super) event_apps: Vec<String>,
    pub(super) event_seqs: Vec<i64>,
    pub(super) event_kinds: Vec<i16>,
    pub(super) event_users: Vec<Option<String>>,
    pub(super) event_infos: Vec<Option<String>>,
    pub(super) event_counts: Vec<i64>,
}

/// A touched member of a group, as the batch leaves it.
struct Member {
    /// Whether it was a member before the batch.
    was: bool,
    /// Whether it is one now.
    is: bool,
    /// Whether its row must be written (joined, rejoined or new user info).
    write: bool,
    /// Its join position if the batch gave it one (`None`: keep the stored one, or none in a
    /// super group).
    position: Option<i64>,
    info: Option<String>,
}

/// Works out one group's changes on its locked row, in memory, collecting what to write.
/// `present` holds the touched `(group_pk, user_id)` pairs that are members before the batch.
pub(super) fn apply_locked(
    group: &mut LockedGroup,
    threshold: i64,
    entry: &GroupOps<'_>,
    present: &HashSet<(i64, String)>,
    writes: &mut Writes,
) -> Vec<MembershipChange> {
    let snapshot = |g: &LockedGroup| {
        (
            g.state,
            g.member_count,
            g.next_position,
            g.total_joins,
            g.next_event_seq,
        )
    };
    let initial = snapshot(group);
    // Touched members in order of first touch, so the writes are deterministic.
    let mut order: Vec<&str> = Vec::new();
    let mut members: HashMap<&str, Member> = HashMap::new();
    let mut changes = Vec::with_capacity(entry.ops.len());
    for op in entry.ops {
        let user = op.user_id().as_str();
        let before = group.state;
        let member = members.entry(user).or_insert_with(|| {
            order.push(user);
            let was = present.contains(&(group.group_pk, user.to_owned()));
            Member {
                was,
                is: was,
                write: false,
                position: None,
                info: None,
            }
        });
        let (changed, joined, user_info) = match op {
            MembershipOp::Join { user_info, .. } if member.is => {
                // A repeated join keeps its position and only updates the user info; a super
                // group keeps no info.
                if group.state != GroupState::Super {
                    member.write = true;
                    member.info = Some(user_info.as_str().to_owned());
                }
                (false, true, Some(user_info.as_str()))
            }
            MembershipOp::Join { user_info, .. } => {
                member.is = true;
                member.write = true;
                if group.state == GroupState::Super {
                    member.position = None;
                    member.info = None;
                } else {
                    member.position = Some(group.next_position);
                    member.info = Some(user_info.as_str().to_owned());
                    group.next_position += 1;
                }
                group.member_count += 1;
                group.total_joins += 1;
                let after = group.state.after_join(group.member_count, threshold);
                if after == GroupState::Super && group.state != GroupState::Super {
                    // The upgrade clears the list, the members touched so far included.
                    writes.cleared_pks.push(group.group_pk);
                    for m in members.values_mut() {
                        m.position = None;
                        m.info = None;
                    }
                    tracing::info!(
                        group.pk = group.group_pk,
                        members = group.member_count,
                        "group became super"
                    );
                }
                group.state = after;
                (true, true, Some(user_info.as_str()))
            }
            MembershipOp::Leave { .. } | MembershipOp::Kick { .. } if member.is => {
                member.is = false;
                member.write = false;
                member.position = None;
                member.info = None;
                group.member_count -= 1;
                group.state = group.state.after_leave(group.member_count);
                (true, false, None)
            }
            MembershipOp::Leave { .. } | MembershipOp::Kick { .. } => (false, false, None),
        };
        let change = MembershipChange {
            before,
            after: group.state,
            member_count: group.member_count,
            changed,
        };
        let mut kinds = events_of(&change, joined);
        if change.changed && matches!(op, MembershipOp::Kick { .. }) {
            // Said in every group, normal or super: the kicked client is told why.
            kinds.push(EventKind::Kicked);
        }
        for kind in kinds {
            let personal = matches!(
                kind,
                EventKind::UserEntered | EventKind::UserLeft | EventKind::Kicked
            );
            writes.event_pks.push(group.group_pk);
            writes.event_apps.push(entry.app_id.to_string());
            writes.event_seqs.push(group.next_event_seq);
            writes.event_kinds.push(kind.as_i16());
            writes.event_users.push(personal.then(|| user.to_owned()));
            writes
                .event_infos
                .push(user_info.filter(|_| personal).map(str::to_owned));
            writes.event_counts.push(group.member_count);
            group.next_event_seq += 1;
        }
        changes.push(change);
    }
    for user in order {
        let member = &members[user];
        if member.was && !member.is {
            writes.deleted_pks.push(group.group_pk);
            writes.deleted_users.push(user.to_owned());
        } else if member.is && member.write {
            writes.upsert_pks.push(group.group_pk);
            writes.upsert_users.push(user.to_owned());
            writes.upsert_positions.push(member.position);
            writes.upsert_infos.push(member.info.clone());
        }
    }
    if snapshot(group) != initial {
        writes.pks.push(group.group_pk);
        writes.states.push(group.state.as_i16());
        writes.counts.push(group.member_count);
        writes.positions.push(group.next_position);
        writes.joins.push(group.total_joins);
        writes.next_seqs.push(group.next_event_seq);
        // The upgrade's own event carries the count: the next count report is due only when
        // it changes after that.
        writes
            .became_super
            .push(changes.iter().any(MembershipChange::became_super));
    }
    changes
}
