//! What workers report through the heartbeat endpoint besides their state: finished jobs
//! (exported by queue and pool, kept for the control loop, implausible ones refused whole),
//! the waits of jobs taken, and interruption notices (answered with drain, counted once).
//! Served as in [`super::service_http`]; no AWS needed.

use spillway::heartbeat::client::RawResponse;
use spillway::model::Timestamp;

use super::service_http::{TOKEN, metrics, post, serve};

#[tokio::test]
async fn job_reports_are_exported_by_queue_and_pool_and_implausible_ones_refused() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    let report = |queue: &str, waited: &str, ok: bool| {
        format!(r#"{{"queue":"{queue}","waited_s":{waited},"ran_s":12.5,"ok":{ok}}}"#)
    };
    let beat = |reports: Vec<String>| {
        format!(
            r#"{{"worker_id":"w1","pool":"ec2","instance_id":"i-1","state":"idle","finished":[{}],"taken":[{{"queue":"https://sqs.example/1/jobs","waited_s":7.5}}]}}"#,
            reports.join(",")
        )
        .into_bytes()
    };
    let jobs = "https://sqs.example/1/jobs";
    let good = beat(vec![
        report(jobs, "3.0", true),
        report(jobs, "40.0", false),
        report("https://sqs.example/1/elsewhere", "1.0", true),
    ]);
    assert_eq!(post(&s.host, Some(&bearer), &good).await.status, 200);
    let m = metrics(&s.host).await;
    // Every expected value is above 0, which `metric` reads for a missing line.
    let value = |line: &str| crate::support::service::metric(&m, line);
    assert_eq!(
        value(r#"spillway_job_wait_seconds_count{queue="jobs"}"#),
        2.0,
        "{m}"
    );
    assert_eq!(
        value(r#"spillway_job_wait_seconds_sum{queue="jobs"}"#),
        43.0,
        "{m}"
    );
    assert_eq!(
        value(r#"spillway_job_wait_seconds_count{queue="other"}"#),
        1.0,
        "{m}"
    );
    assert_eq!(
        value(r#"spillway_job_run_seconds_count{pool="ec2"}"#),
        3.0,
        "{m}"
    );
    assert_eq!(
        value(r#"spillway_jobs_finished_total{outcome="failed",pool="ec2"}"#),
        1.0,
        "{m}"
    );
    // A wait that is not a plausible number of seconds, or too many reports, is refused whole.
    for bad in [
        beat(vec![report(jobs, "-1", true)]),
        beat(vec![report(jobs, "1e300", true)]),
        beat((0..51).map(|_| report(jobs, "1", true)).collect()),
    ] {
        assert_eq!(post(&s.host, Some(&bearer), &bad).await.status, 400);
    }
    let m = metrics(&s.host).await;
    assert!(
        m.contains(r#"spillway_job_wait_seconds_count{queue="jobs"} 2"#),
        "{m}"
    );
    // The accepted reports wait for the control loop, named by queue and pool; the refused
    // ones are not among them.
    let taken = s.job_reports.take();
    let seen: Vec<(&str, &str, f64, bool)> = taken
        .jobs
        .iter()
        .map(|j| (j.queue.as_str(), j.pool.as_str(), j.waited_s, j.ok))
        .collect();
    assert_eq!(
        seen,
        [
            ("jobs", "ec2", 3.0, true),
            ("jobs", "ec2", 40.0, false),
            ("other", "ec2", 1.0, true)
        ]
    );
    assert!(
        taken
            .jobs
            .iter()
            .all(|j| j.reported_at == Timestamp::from_millis(5_000))
    );
    // So do the jobs taken, with their queue waits.
    let waits: Vec<(&str, f64)> = taken
        .taken
        .iter()
        .map(|w| (w.queue.as_str(), w.waited_s))
        .collect();
    assert_eq!(waits, [("jobs", 7.5)]);
}

#[tokio::test]
async fn an_interruption_notice_is_answered_with_drain_and_counted_once() {
    let s = serve().await;
    let bearer = format!("Bearer {TOKEN}");
    let beat = |worker: &str, notice: &str| {
        format!(
            r#"{{"worker_id":"{worker}","pool":"ec2","instance_id":"i-{worker}","state":"idle"{notice}}}"#
        )
        .into_bytes()
    };
    let reply = |r: RawResponse| String::from_utf8(r.body).unwrap();
    // Heard first without a notice: it runs.
    let plain = post(&s.host, Some(&bearer), &beat("a", "")).await;
    assert!(reply(plain).contains(r#""run""#));
    // The notice: drain, now and on every later heartbeat; counted once.
    for _ in 0..3 {
        let r = post(
            &s.host,
            Some(&bearer),
            &beat("a", r#","interrupted":"spot""#),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(reply(r).contains(r#""drain""#));
    }
    let r = post(
        &s.host,
        Some(&bearer),
        &beat("b", r#","interrupted":"rebalance""#),
    )
    .await;
    assert!(reply(r).contains(r#""drain""#));
    let m = metrics(&s.host).await;
    assert!(
        m.contains(r#"spillway_worker_interruptions_total{kind="spot",pool="ec2"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"spillway_worker_interruptions_total{kind="rebalance",pool="ec2"} 1"#),
        "{m}"
    );
    let a = s
        .registry
        .snapshot()
        .into_iter()
        .find(|r| r.worker_id == "a")
        .unwrap();
    assert!(a.draining(), "{a:?}");
    // An unknown kind of notice is malformed, not a drain.
    let r = post(
        &s.host,
        Some(&bearer),
        &beat("c", r#","interrupted":"meteor""#),
    )
    .await;
    assert_eq!(r.status, 400);
}
