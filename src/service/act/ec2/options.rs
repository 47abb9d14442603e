//! How one launch is tried: the options (instance type × subnet, spot before on-demand) in
//! order, the spread of a launch over subnets, and each attempt's ClientToken.

use crate::policy::{Ec2Launch, Market};

/// One way to launch: market, type and subnet (`None`: the template's or the default).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LaunchOption<'a> {
    pub(super) spot: bool,
    pub(super) instance_type: Option<&'a str>,
    pub(super) subnet: Option<&'a str>,
}

/// The ClientToken of attempt `k` of one launch: the decision's token itself first.
pub fn attempt_token(token: &str, k: usize) -> String {
    let mut t = if k == 0 {
        token.to_string()
    } else {
        format!("{token}-{k}")
    };
    t.truncate(64);
    t
}

/// How many of `want` launches go to each subnet: one at a time to the open subnet holding
/// the fewest (`placed`, with what this spread gave it), the first in policy order on a tie.
pub(super) fn spread(placed: &[u32], open: &[bool], want: u32) -> Vec<u32> {
    let mut share = vec![0u32; placed.len()];
    for _ in 0..want {
        let Some(s) = (0..placed.len())
            .filter(|&s| open[s])
            .min_by_key(|&s| (placed[s] + share[s], s))
        else {
            break;
        };
        share[s] += 1;
    }
    share
}

pub(super) fn options(launch: &Ec2Launch) -> Vec<LaunchOption<'_>> {
    let types: Vec<Option<&str>> = if launch.instance_types.is_empty() {
        vec![None]
    } else {
        launch
            .instance_types
            .iter()
            .map(|t| Some(t.as_str()))
            .collect()
    };
    let subnets: Vec<Option<&str>> = if launch.subnet_ids.is_empty() {
        vec![None]
    } else {
        launch.subnet_ids.iter().map(|s| Some(s.as_str())).collect()
    };
    let markets: &[bool] = match launch.market {
        Market::OnDemand => &[false],
        Market::Spot => &[true],
        Market::SpotThenOnDemand => &[true, false],
    };
    let mut out = Vec::new();
    for &spot in markets {
        for &instance_type in &types {
            for &subnet in &subnets {
                out.push(LaunchOption {
                    spot,
                    instance_type,
                    subnet,
                });
            }
        }
    }
    out
}

impl LaunchOption<'_> {
    pub(super) fn describe(&self) -> String {
        format!(
            "{} {} in {}",
            if self.spot { "spot" } else { "on-demand" },
            self.instance_type.unwrap_or("(template type)"),
            self.subnet.unwrap_or("(default subnet)")
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn launches_spread_to_the_emptiest_open_subnets_first() {
        // Four, three, three placed: the two behind catch up first, then round-robin.
        assert_eq!(super::spread(&[4, 3, 3], &[true; 3], 2), vec![0, 1, 1]);
        assert_eq!(super::spread(&[4, 3, 3], &[true; 3], 6), vec![2, 2, 2]);
        assert_eq!(super::spread(&[0, 0, 0], &[true; 3], 4), vec![2, 1, 1]);
        // A closed subnet (no capacity) gets nothing: its share goes to the others.
        assert_eq!(
            super::spread(&[0, 0, 0], &[false, true, true], 5),
            vec![0, 3, 2]
        );
        assert_eq!(super::spread(&[1, 2], &[false, false], 3), vec![0, 0]);
    }

    use super::*;
    use crate::policy::LaunchSource;

    #[test]
    fn options_go_types_then_subnets_and_spot_before_on_demand() {
        let launch = Ec2Launch {
            source: Some(LaunchSource::Image("ami-1".into())),
            instance_types: vec!["c7i.large".into(), "c6i.large".into()],
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            market: Market::SpotThenOnDemand,
        };
        let o = options(&launch);
        assert_eq!(o.len(), 8);
        assert!(o[..4].iter().all(|x| x.spot) && o[4..].iter().all(|x| !x.spot));
        assert_eq!(
            (o[0].instance_type, o[0].subnet),
            (Some("c7i.large"), Some("subnet-a"))
        );
        assert_eq!(
            (o[1].instance_type, o[1].subnet),
            (Some("c7i.large"), Some("subnet-b"))
        );
        assert_eq!(o[2].instance_type, Some("c6i.large"));
    }

    #[test]
    fn attempt_tokens_are_deterministic_and_within_ec2_limits() {
        let t = "spillway-0123456789abcdef-1700000000000-5";
        assert_eq!(attempt_token(t, 0), t);
        assert_eq!(attempt_token(t, 3), format!("{t}-3"));
        assert_eq!(attempt_token(t, 3), attempt_token(t, 3));
        assert!(attempt_token(&"x".repeat(80), 2).len() <= 64);
    }
}
