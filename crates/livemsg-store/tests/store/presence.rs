//! Logon and logoff: who is online, and leaving every group on logoff.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn logoff_takes_a_user_offline_and_out_of_every_group(pool: PgPool) {
    use livemsg_domain::events::EventKind::*;
    let f = fixture(pool, 3).await;
    let (a, b, big) = (f.group("a").await, f.group("b").await, f.group("big").await);
    f.seed(&a, ["viewer".to_owned(), "other".to_owned()]).await;
    f.seed(&b, ["viewer".to_owned()]).await;
    f.seed(&big, ["viewer", "p", "q", "r"].map(String::from))
        .await; // super
    let ids = vec!["viewer".to_owned(), "nobody".to_owned()];
    let online = |f: &Fixture| {
        let (store, account, app, ids) =
            (f.store.clone(), f.account_id, f.app_id.clone(), ids.clone());
        async move {
            store
                .online_among(&scope_of(account, &app, DataCenter::CnShanghai), &ids)
                .await
                .unwrap()
        }
    };
    assert!(online(&f).await.is_empty());
    f.store
        .logon(&f.app_id, &uid("viewer"), "s1")
        .await
        .unwrap();
    assert_eq!(online(&f).await.into_iter().collect::<Vec<_>>(), ["viewer"]);

    let left = f
        .store
        .logoff(&f.app_id, &uid("viewer"), "s1", 1)
        .await
        .unwrap();
    assert_eq!(left, ["a", "b", "big"]);
    assert!(online(&f).await.is_empty());
    assert_eq!(f.store.group_count(&f.app_id, &a).await.unwrap().0, 1);
    assert_eq!(
        f.store.group_count(&f.app_id, &big).await.unwrap(),
        (3, GroupState::Super)
    );
    // The leaves have their events: a user left a, and b closed.
    let a_events = f.store.group_events(&f.app_id, &a, 1, 10).await.unwrap();
    assert_eq!(kinds(&a_events).last(), Some(&UserLeft));
    let b_events = f.store.group_events(&f.app_id, &b, 1, 10).await.unwrap();
    assert_eq!(kinds(&b_events)[1..], [UserLeft, Closed]);
    // Logging off again changes nothing.
    assert!(f
        .store
        .logoff(&f.app_id, &uid("viewer"), "s1", 1)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        f.store
            .logon(&AppId::parse("nosuchapp").unwrap(), &uid("x"), "")
            .await,
        Err(StoreError::AppNotFound)
    ));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_batch_of_logons_and_logoffs_is_written_in_order_and_refuses_each_on_its_own(
    pool: PgPool,
) {
    use livemsg_domain::events::EventKind::*;
    use livemsg_store::PresenceChange;
    let f = fixture(pool, THRESHOLD).await;
    let disabled_id = f.another_app().await;
    f.store
        .set_app_disabled(
            &scope_of(f.account_id, &disabled_id, DataCenter::CnShanghai),
            Some(true),
        )
        .await
        .unwrap();
    let change = |app: &AppId, user: &str, online: bool| PresenceChange {
        app_id: app.clone(),
        user_id: uid(user),
        online,
        session_id: format!("s-{user}"),
        reason: (!online).then_some(1),
    };
    let results = f
        .store
        .set_presences(&[
            change(&f.app_id, "a", true),
            change(&disabled_id, "b", true),
            change(&f.app_id, "a", false),
            change(&AppId::parse("nosuchapp").unwrap(), "c", true),
            change(&f.app_id, "d", true),
            change(&disabled_id, "e", false),
        ])
        .await
        .unwrap();
    assert!(matches!(
        results.as_slice(),
        [
            Ok(()),
            Err(StoreError::AppDisabled),
            Ok(()),
            Err(StoreError::AppNotFound),
            Ok(()),
            Ok(())
        ]
    ));
    // A disabled app refuses logons, never a logoff (its other events name no user).
    let disabled_events = f.store.app_events(&disabled_id, 1, 10).await.unwrap();
    assert_eq!(
        disabled_events
            .iter()
            .filter_map(|e| Some((e.kind, e.user_id.clone()?)))
            .collect::<Vec<_>>(),
        [(Logoff, "e".to_owned())]
    );
    // The written ones, numbered in their order of arrival: a's logon before its logoff.
    let events = f.store.app_events(&f.app_id, 1, 10).await.unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.app_seq, e.kind, e.user_id.clone().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Logon, "a".to_owned()),
            (2, Logoff, "a".to_owned()),
            (3, Logon, "d".to_owned())
        ]
    );
    let online = f
        .store
        .online_among(&f.scope(), &["a".to_owned(), "d".to_owned()])
        .await
        .unwrap();
    assert_eq!(online, HashSet::from(["d".to_owned()]));
}
