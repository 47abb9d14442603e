//! The DynamoDB lease against moto: one leader at a time, takeover only after expiry with a
//! new fence, and a paused leader fenced off when it wakes.

use crate::support;

use std::time::Duration;

use spillway::model::Timestamp;
use spillway::service::lease::{Lease, Role};
use support::moto;

fn at(s: i64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

#[tokio::test]
async fn one_leader_takeover_after_expiry_and_a_paused_leader_is_fenced() {
    let server = moto::server();
    let account = moto::fresh_account();
    let ddb = server.dynamodb_client(&account);
    support::leases::create_table(&ddb, "leases").await;
    let period = Duration::from_secs(15);
    let mut a = Lease::new(ddb.clone(), "leases", "picnik", "replica-a", period)
        .advertising(Some("10.0.0.1:9464".into()));
    let mut b = Lease::new(ddb.clone(), "leases", "picnik", "replica-b", period)
        .advertising(Some("10.0.0.2:9464".into()));
    // Another policy's lease is independent.
    let mut other = Lease::new(ddb.clone(), "leases", "other", "replica-b", period);

    let first = a.refresh(at(100)).await.unwrap();
    assert!(matches!(first, Role::Leader { fence: 1, .. }), "{first:?}");
    assert_eq!(
        b.refresh(at(101)).await.unwrap(),
        Role::Follower {
            holder: Some("replica-a".into()),
            address: Some("10.0.0.1:9464".into()),
        }
    );
    assert!(matches!(
        other.refresh(at(101)).await.unwrap(),
        Role::Leader { .. }
    ));
    assert!(a.leads(at(102)) && !b.leads(at(102)));
    assert!(a.fence(at(102)).await, "the holder passes its own fence");

    // A renews every few seconds: B never gets in.
    for t in (105..160).step_by(5) {
        assert!(matches!(
            a.refresh(at(t)).await.unwrap(),
            Role::Leader { fence: 1, .. }
        ));
        assert!(matches!(
            b.refresh(at(t)).await.unwrap(),
            Role::Follower { .. }
        ));
    }

    // A is paused at 155 (last renewal): its lease runs out at 170; B takes it at 171.
    let taken = b.refresh(at(171)).await.unwrap();
    assert!(matches!(taken, Role::Leader { fence: 2, .. }), "{taken:?}");
    // A wakes at 172 and, still believing in its lease, checks before acting: fenced.
    assert!(
        !a.fence(at(172)).await,
        "a paused leader must not act on stale leadership"
    );
    assert!(!a.leads(at(172)));
    assert_eq!(
        a.refresh(at(173)).await.unwrap(),
        Role::Follower {
            holder: Some("replica-b".into()),
            address: Some("10.0.0.2:9464".into()),
        }
    );
    assert!(b.fence(at(173)).await);
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_leadership() {
    let server = moto::server();
    let ddb = server.dynamodb_client(&moto::fresh_account());
    let mut a = Lease::new(
        ddb,
        "no-such-table",
        "picnik",
        "replica-a",
        Duration::from_secs(15),
    );
    let err = a.refresh(at(0)).await.unwrap_err();
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
    assert!(!a.leads(at(0)) && !a.fence(at(0)).await);
}
