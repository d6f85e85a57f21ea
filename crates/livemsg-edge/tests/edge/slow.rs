//! A viewer that falls behind: what its queue gives up, and what never costs it the connection.

use livemsg_domain::{AppId, GroupId, UserId, UserInfo};
use livemsg_store::MembershipOp;

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_viewer_behind_a_joining_crowd_loses_old_notices_not_its_connection(pool: PgPool) {
    const CROWD: usize = 1_500;
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|settings| settings.edge.queue_frames = 8).await;
    s.group("room", "host", &[]).await;
    let mut slow = Client::connect_small_buffer(&edge).await;
    slow.ok(s.login("slow", "")).await;
    slow.ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;

    // A crowd joins while the viewer reads nothing: a notice each, far more than its queue
    // and its socket's buffers hold.
    let (app, group) = (
        AppId::parse(&s.app_id).unwrap(),
        GroupId::parse("room").unwrap(),
    );
    let joins: Vec<MembershipOp> = (0..CROWD)
        .map(|i| MembershipOp::Join {
            user_id: UserId::parse(&format!("crowd{i}")).unwrap(),
            user_info: UserInfo::parse("").unwrap(),
        })
        .collect();
    for batch in joins.chunks(50) {
        s.store.apply_to_group(&app, &group, batch).await.unwrap();
    }
    let total = (CROWD + 1) as u64;
    assert_eq!(s.members("room").await as u64, total);

    // Then it reads: the newest notice carries the whole count, the older ones it missed
    // were given up, and the connection still answers.
    let mut notices = 0;
    loop {
        let change = slow.event("memberchange").await;
        notices += 1;
        if change["memberCount"] == total {
            break;
        }
    }
    assert!(
        notices < CROWD,
        "{notices} notices arrived: the queue never filled, so this test proved nothing"
    );
    let info = slow
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    assert_eq!(info["groupId"], "room");
    assert!(!slow.closed);
}
