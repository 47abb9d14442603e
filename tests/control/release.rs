//! Every action on a machine comes out of `decide`: lost and drained workers are terminated by
//! decisions with their own reasons, not by the service on the side (issue: "decisions are made
//! outside decide").

use crate::farm;

use farm::actions::terminations;
use farm::{Farm, at, picnik};
use spillway::control::{ControlMemory, ReasonKind};
use spillway::model::{WorkerId, WorkerState};

#[test]
fn lost_and_drained_workers_are_terminated_by_decide_with_their_reasons() {
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .ec2_busy(3)
        .ec2_in_state(1, WorkerState::Lost)
        .ec2_in_state(2, WorkerState::Drained)
        .ec2_in_state(1, WorkerState::Draining { busy: true });
    let step = farm.decide(&picnik(), &ControlMemory::default());
    let gone = terminations(&step);
    let by = |kind| -> Vec<WorkerId> {
        gone.iter()
            .filter(|t| t.2 == kind)
            .flat_map(|t| t.1.clone())
            .collect()
    };
    assert_eq!(by(ReasonKind::WorkerLost), vec![WorkerId("i-0004".into())]);
    assert_eq!(
        by(ReasonKind::Drained),
        vec![WorkerId("i-0005".into()), WorkerId("i-0006".into())]
    );
    assert_eq!(
        gone.len(),
        2,
        "nothing else, and never the worker still draining a job"
    );
    let text = &step.decision.actions[0].reason().text;
    assert!(text.contains("lost_after"), "{text}");
}

#[test]
fn a_lost_worker_is_not_released_while_its_pool_is_unknown() {
    let farm = Farm::at(at(600))
        .dc_busy(40)
        .ec2_in_state(1, WorkerState::Lost)
        .ec2_listing_missing();
    let step = farm.decide(&picnik(), &ControlMemory::default());
    assert!(terminations(&step).is_empty(), "{:?}", step.decision);
}
