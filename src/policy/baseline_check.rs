//! The baselines' sections, `[hpa]` and `[target_tracking]`, into their typed settings
//! (upstream's defaults), every problem with its field.

use std::time::Duration;

use toml::Spanned;

use super::checker::Checker;
use super::file::{HpaSection, TargetTrackingSection};
use super::{HpaSettings, TargetTrackingSettings};

impl Checker<'_> {
    /// `[hpa]`: the HPA baseline's knobs.
    pub(super) fn hpa(&mut self, raw: Option<Spanned<HpaSection>>) -> HpaSettings {
        let (hp_at, hp) = (
            raw.as_ref().map(|s| s.span().start).unwrap_or(0),
            raw.map(Spanned::into_inner),
        );
        HpaSettings {
            target_per_replica: self.number(
                hp.as_ref().and_then(|s| s.target_per_replica.clone()),
                hp_at,
                "hpa.target_per_replica",
                Some(5.0),
                |x| x > 0.0,
                "must be above 0",
            ),
            tolerance: self.number(
                hp.as_ref().and_then(|s| s.tolerance.clone()),
                hp_at,
                "hpa.tolerance",
                Some(0.1),
                |x| (0.0..1.0).contains(&x),
                "must be at least 0 and below 1",
            ),
            downscale_stabilization: self.duration(
                hp.and_then(|s| s.downscale_stabilization),
                hp_at,
                "hpa.downscale_stabilization",
                Some(Duration::from_secs(300)),
            ),
        }
    }

    /// `[target_tracking]`: the EC2 target-tracking baseline's knobs.
    pub(super) fn target_tracking(
        &mut self,
        raw: Option<Spanned<TargetTrackingSection>>,
    ) -> TargetTrackingSettings {
        let (tt_at, tt) = (
            raw.as_ref().map(|s| s.span().start).unwrap_or(0),
            raw.map(Spanned::into_inner),
        );
        TargetTrackingSettings {
            backlog_per_instance: self.number(
                tt.as_ref().and_then(|s| s.backlog_per_instance.clone()),
                tt_at,
                "target_tracking.backlog_per_instance",
                Some(1.5),
                |x| x > 0.0,
                "must be above 0",
            ),
            warmup: self.duration(
                tt.as_ref().and_then(|s| s.warmup.clone()),
                tt_at,
                "target_tracking.warmup",
                Some(Duration::from_secs(300)),
            ),
            scale_out_periods: self
                .count(
                    tt.as_ref().and_then(|s| s.scale_out_periods.clone()),
                    tt_at,
                    "target_tracking.scale_out_periods",
                    Some(3),
                )
                .max(1),
            scale_in_periods: self
                .count(
                    tt.and_then(|s| s.scale_in_periods),
                    tt_at,
                    "target_tracking.scale_in_periods",
                    Some(15),
                )
                .max(1),
        }
    }
}
