//! Fuzz target: `POST /v1/heartbeat` bodies through `heartbeat::protocol::parse`, the decoder
//! the service's HTTP handler uses, and the same bytes as an `Authorization` header through
//! `protocol::authorized`. Neither may panic; an accepted heartbeat must have ids within the
//! limits and survive a round trip through its own JSON encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::heartbeat::protocol::{self, Heartbeat, MAX_BODY_BYTES, MAX_ID_LEN};

const TOKEN: &str = "s3cret-token";

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        protocol::authorized(Some(data), TOKEN),
        data == format!("Bearer {TOKEN}").as_bytes()
    );
    match protocol::parse(data) {
        Ok(hb) => {
            assert!(data.len() <= MAX_BODY_BYTES);
            for id in [
                Some(&hb.worker_id),
                Some(&hb.pool),
                hb.instance_id.as_ref(),
                hb.job_id.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!id.trim().is_empty() && id.len() <= MAX_ID_LEN, "{id:?}");
                assert!(!id.chars().any(char::is_control), "{id:?}");
            }
            let again = serde_json::to_vec(&hb).expect("a heartbeat encodes");
            let back: Heartbeat = serde_json::from_slice(&again).expect("its encoding decodes");
            assert_eq!(back, hb);
            if again.len() <= MAX_BODY_BYTES {
                assert_eq!(protocol::parse(&again), Ok(hb));
            }
        }
        Err(e) => {
            let _ = (e.label(), e.to_string());
        }
    }
});
