//! The protocol spillway speaks with its workers, shared by the service, the simulator's tests
//! and worker programs: the wire format ([`protocol`]) and a minimal HTTP client ([`client`]).
//! The service keeps what workers report in `service::observe::registry`.

pub mod client;
pub mod protocol;
