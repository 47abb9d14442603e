//! The EC2 fleet of one policy: lists its instances by tag, launches with ordered fallbacks
//! (instance type × subnet, spot then on-demand) and terminates only instances whose tags say
//! they belong to this policy, checked right before the call.
//!
//! A pool with several `subnet_ids` (one per availability zone) is launched into in balance:
//! each launch goes first to the subnets holding the fewest of the pool's instances (as the
//! last listing and the launches since placed them), so one zone's loss costs a fraction of
//! the fleet; a subnet without capacity (for every type and market) passes its share to the
//! others.

use aws_sdk_ec2::types::{
    Filter, InstanceMarketOptionsRequest, InstanceStateName, InstanceType,
    LaunchTemplateSpecification, MarketType, ResourceType, Tag, TagSpecification,
};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::provider::{ProviderError, TAG_POLICY, TAG_POOL, classify};
use crate::model::Instance;
use crate::model::Timestamp;
use crate::policy::{Ec2Launch, LaunchSource};

mod options;

pub use options::attempt_token;
use options::{LaunchOption, options, spread};

/// The EC2 side of one policy.
#[derive(Debug, Clone)]
pub struct Ec2Fleet {
    client: aws_sdk_ec2::Client,
    policy: String,
    /// Each live instance's pool and subnet, from the last listing and the launches since.
    placed: Arc<Mutex<HashMap<String, (String, String)>>>,
}

/// What a launch achieved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Launched {
    /// Instances started.
    pub ids: Vec<String>,
    /// Attempts that failed (type, subnet or market without capacity, or other errors), in
    /// order, as `"<option>: <error>"`.
    pub failures: Vec<String>,
}

impl Ec2Fleet {
    /// The fleet of policy `policy` (its name is the `spillway:policy` tag value).
    pub fn new(client: aws_sdk_ec2::Client, policy: &str) -> Self {
        Ec2Fleet {
            client,
            policy: policy.to_string(),
            placed: Arc::default(),
        }
    }

    /// Every pending or running instance tagged with this policy, across all pools, all pages.
    /// Read-only. Fails as a whole: a partial listing is never returned as complete.
    pub async fn list(&self) -> Result<Vec<Instance>, ProviderError> {
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter(&format!("tag:{TAG_POLICY}"), [self.policy.as_str()]))
            .filters(filter("instance-state-name", ["pending", "running"]))
            .max_results(100)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        let mut placed = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e))?;
            for r in page.reservations() {
                for i in r.instances() {
                    let live = matches!(
                        i.state().and_then(|s| s.name()),
                        Some(InstanceStateName::Pending | InstanceStateName::Running)
                    );
                    let (Some(id), Some(pool), true) =
                        (i.instance_id(), tag(i.tags(), TAG_POOL), live)
                    else {
                        continue;
                    };
                    if tag(i.tags(), TAG_POLICY) != Some(self.policy.as_str()) {
                        continue;
                    }
                    if let Some(subnet) = i.subnet_id() {
                        placed.insert(id.to_string(), (pool.to_string(), subnet.to_string()));
                    }
                    let launched_at = i
                        .launch_time()
                        .and_then(|t| t.to_millis().ok())
                        .map_or(Timestamp::default(), Timestamp::from_millis);
                    out.push(Instance {
                        id: id.to_string(),
                        pool: pool.to_string(),
                        launched_at,
                    });
                }
            }
        }
        *self.placed.lock().unwrap_or_else(|e| e.into_inner()) = placed;
        Ok(out)
    }

    /// Launches `count` instances in `pool`, tagged on create, trying each option in order
    /// (types × subnets; spot ones first for `spot-then-on-demand`) until `count` are running
    /// or the options run out; with several subnets, spread over them in balance (see the
    /// module's documentation), each subnet's share trying its options in order. The first
    /// attempt sends `token` as its ClientToken; attempt `k` sends `token-k`: a replayed
    /// decision replays the same tokens, so EC2 launches nothing twice. An option is repeated
    /// while it starts instances; capacity errors move on to the next option; any other error
    /// stops the launch.
    pub async fn launch(
        &self,
        pool: &str,
        launch: &Ec2Launch,
        count: u32,
        token: &str,
    ) -> Result<Launched, ProviderError> {
        let Some(source) = &launch.source else {
            return Err(ProviderError::Other {
                code: "NoLaunchSource".into(),
                message: format!("pool {pool} has neither launch_template nor image_id"),
            });
        };
        let mut done = Launched::default();
        let mut k = 0;
        let all = options(launch);
        let subnets: Vec<&str> = launch.subnet_ids.iter().map(String::as_str).collect();
        if subnets.len() < 2 {
            self.try_options(pool, source, &all, count, token, &mut done, &mut k)
                .await?;
            return Ok(done);
        }
        let mut placed: Vec<u32> = {
            let map = self.placed.lock().unwrap_or_else(|e| e.into_inner());
            subnets
                .iter()
                .map(|s| {
                    map.values()
                        .filter(|(p, sub)| p == pool && sub == s)
                        .count() as u32
                })
                .collect()
        };
        let mut open = vec![true; subnets.len()];
        'spread: while (done.ids.len() as u32) < count && open.contains(&true) {
            let want = count - done.ids.len() as u32;
            for (s, share) in spread(&placed, &open, want).into_iter().enumerate() {
                if share == 0 {
                    continue;
                }
                let mine: Vec<LaunchOption> = all
                    .iter()
                    .filter(|o| o.subnet == Some(subnets[s]))
                    .cloned()
                    .collect();
                let before = done.ids.len();
                let goal = before as u32 + share;
                let go_on = self
                    .try_options(pool, source, &mine, goal, token, &mut done, &mut k)
                    .await?;
                let got = (done.ids.len() - before) as u32;
                placed[s] += got;
                {
                    let mut map = self.placed.lock().unwrap_or_else(|e| e.into_inner());
                    for id in &done.ids[before..] {
                        map.insert(id.clone(), (pool.to_string(), subnets[s].to_string()));
                    }
                }
                if !go_on {
                    break 'spread;
                }
                if got < share {
                    // No capacity there for any type or market: its share goes elsewhere.
                    open[s] = false;
                }
            }
        }
        Ok(done)
    }

    /// Tries `options` in order until `done` holds `goal` instances; `k` counts the attempts of
    /// the whole launch (their tokens). `Ok(false)`: an error that stops the launch.
    #[allow(clippy::too_many_arguments)]
    async fn try_options(
        &self,
        pool: &str,
        source: &LaunchSource,
        options: &[LaunchOption<'_>],
        goal: u32,
        token: &str,
        done: &mut Launched,
        k: &mut usize,
    ) -> Result<bool, ProviderError> {
        for option in options {
            // Repeat an option while it makes progress (EC2 may start fewer than asked).
            loop {
                let want = goal.saturating_sub(done.ids.len() as u32);
                if want == 0 {
                    return Ok(true);
                }
                if *k > goal as usize + 16 {
                    return Ok(false);
                }
                let attempt_token = attempt_token(token, *k);
                *k += 1;
                match self.run(pool, source, option, want, &attempt_token).await {
                    Ok(ids) if ids.is_empty() => break,
                    Ok(ids) => done.ids.extend(ids),
                    Err(e @ ProviderError::InsufficientCapacity { .. }) => {
                        done.failures.push(format!("{}: {e}", option.describe()));
                        break;
                    }
                    Err(e) if done.ids.is_empty() => return Err(e),
                    Err(e) => {
                        done.failures.push(format!("{}: {e}", option.describe()));
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    async fn run(
        &self,
        pool: &str,
        source: &LaunchSource,
        option: &LaunchOption<'_>,
        count: u32,
        token: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key(TAG_POLICY).value(&self.policy).build())
            .tags(Tag::builder().key(TAG_POOL).value(pool).build())
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("spillway-{}-{pool}", self.policy))
                    .build(),
            )
            .build();
        let mut req = self
            .client
            .run_instances()
            .min_count(1)
            .max_count(count.min(i32::MAX as u32) as i32)
            .client_token(token)
            .tag_specifications(tags);
        req = match source {
            LaunchSource::Template(id) => req.launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(id)
                    .build(),
            ),
            LaunchSource::Image(ami) => req.image_id(ami),
        };
        if let Some(t) = option.instance_type {
            req = req.instance_type(InstanceType::from(t));
        }
        if let Some(s) = option.subnet {
            req = req.subnet_id(s);
        }
        if option.spot {
            req = req.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| classify(&e))?;
        Ok(out
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect())
    }

    /// Terminates those of `ids` that are pending or running and carry this policy's
    /// `spillway:policy` tag (and, when `pool` is given, that pool's tag), read from EC2 right
    /// before the call; every other id is skipped, whatever a heartbeat claimed. Returns the
    /// ids terminated. Idempotent: an instance already gone counts as success.
    pub async fn terminate(
        &self,
        ids: &[String],
        pool: Option<&str>,
    ) -> Result<Vec<String>, ProviderError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter("instance-id", ids.iter().map(String::as_str)))
            .filters(filter(&format!("tag:{TAG_POLICY}"), [self.policy.as_str()]))
            .into_paginator()
            .send();
        let mut ours = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                let live = matches!(
                    i.state().and_then(|s| s.name()),
                    Some(InstanceStateName::Pending | InstanceStateName::Running)
                );
                let tagged = tag(i.tags(), TAG_POLICY) == Some(self.policy.as_str())
                    && pool.is_none_or(|p| tag(i.tags(), TAG_POOL) == Some(p));
                if let (Some(id), true, true) = (i.instance_id(), live, tagged)
                    && ids.iter().any(|x| x == id)
                {
                    ours.push(id.to_string());
                }
            }
        }
        if ours.is_empty() {
            return Ok(ours);
        }
        match self
            .client
            .terminate_instances()
            .set_instance_ids(Some(ours.clone()))
            .send()
            .await
        {
            Ok(_) => Ok(ours),
            Err(e) => match classify(&e) {
                ProviderError::NotFound { .. } => Ok(ours),
                other => Err(other),
            },
        }
    }
}

fn filter<'a>(name: &str, values: impl IntoIterator<Item = &'a str>) -> Filter {
    let mut f = Filter::builder().name(name);
    for v in values {
        f = f.values(v);
    }
    f.build()
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}
