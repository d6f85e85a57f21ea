//! What a batch of client sends checks under its stream heads' locks: the speakers' membership
//! and the groups' mute state (read after the locks, so every mute change committed before the
//! batch is seen).

use std::collections::{HashMap, HashSet};

use super::group::Target;
use super::NewGroupMessage;
use crate::{MuteState, StoreError};

/// A group's mute state, creator and administrators, as a send batch reads them.
type MuteRow = (i64, bool, Vec<String>, Vec<String>, String, Vec<String>);

/// The mute state, creator and administrators of each group the batch's mute-checked sends
/// go to.
pub(super) async fn mutes(
    tx: &mut sqlx::PgConnection,
    batch: &[NewGroupMessage],
    targets: &HashMap<(String, String), Target>,
) -> Result<HashMap<i64, (MuteState, String, Vec<String>)>, StoreError> {
    let mut mutes = HashMap::new();
    let pks: Vec<i64> = batch
        .iter()
        .filter(|m| m.subject_to_mute)
        .filter_map(|m| targets.get(&(m.app_id.clone(), m.group_id.clone())))
        .map(|t| t.group_pk)
        .collect();
    if pks.is_empty() {
        return Ok(mutes);
    }
    let rows: Vec<MuteRow> = sqlx::query_as(
        "SELECT group_pk, mute_all, muted_users, exempt_users, creator_id, admin_list
         FROM groups WHERE group_pk = ANY($1)",
    )
    .bind(&pks)
    .fetch_all(&mut *tx)
    .await?;
    for (pk, mute_all, muted, exempt, creator, admins) in rows {
        let state = MuteState {
            mute_all,
            muted,
            exempt,
        };
        mutes.insert(pk, (state, creator, admins));
    }
    Ok(mutes)
}

/// The `(group_pk, user)` pairs of the batch's speakers that are members of their group.
pub(super) async fn speakers(
    tx: &mut sqlx::PgConnection,
    batch: &[NewGroupMessage],
    targets: &HashMap<(String, String), Target>,
) -> Result<HashSet<(i64, String)>, StoreError> {
    let (pks, users): (Vec<i64>, Vec<&str>) = batch
        .iter()
        .filter(|m| m.sender_must_be_member)
        .filter_map(|m| {
            let target = targets.get(&(m.app_id.clone(), m.group_id.clone()))?;
            Some((target.group_pk, m.sender_id.as_str()))
        })
        .unzip();
    if users.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT m.group_pk, m.user_id FROM group_members m
         JOIN unnest($1::bigint[], $2::text[]) AS k(group_pk, user_id)
           ON m.group_pk = k.group_pk AND m.user_id = k.user_id",
    )
    .bind(&pks)
    .bind(&users)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}
