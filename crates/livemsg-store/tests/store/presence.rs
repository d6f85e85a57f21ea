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
