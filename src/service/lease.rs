//! Leader election for replicas of `spillway run`: one DynamoDB item per policy, written only
//! with conditional updates, so at most one replica holds the lease at a time.
//!
//! The item (partition key `lease` = the policy name) has `holder` (a replica id),
//! `expires_ms` (the holder's clock) and `fence`, a number that grows by one at every change of
//! holder. A replica takes the lease only when it is absent or expired, and renews it only
//! while `holder` and `fence` are still its own. Before it acts, the leader renews once more
//! ([`Lease::fence`]): a leader that was paused (SIGSTOP, a long GC, a frozen VM) past its
//! expiry finds the fence moved on and does not act on stale leadership. Expiry is judged on
//! each replica's own clock, so clocks must agree to well within a lease period (NTP does).
//! The holder also writes `address`, where followers pass heartbeats on to it
//! ([`super::forward`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::model::Timestamp;

use crate::service::act::provider::{ProviderError, classify};

/// What this replica is, after a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Holds the lease with this fence token until `until`.
    Leader { fence: u64, until: Timestamp },
    /// Another replica holds it (its id and advertised address, when they could be read).
    Follower {
        holder: Option<String>,
        address: Option<String>,
    },
}

/// One replica's handle on the lease.
pub struct Lease {
    client: aws_sdk_dynamodb::Client,
    table: String,
    key: String,
    me: String,
    /// Where followers reach this replica's `/v1/heartbeat` (`host:port`), if known.
    address: Option<String>,
    duration: Duration,
    held: Option<(u64, Timestamp)>,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn conditional_failed(e: &ProviderError) -> bool {
    e.code() == "ConditionalCheckFailedException"
}

impl Lease {
    /// A handle for replica `me` on the lease of policy `key` in `table`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: &str,
        key: &str,
        me: &str,
        duration: Duration,
    ) -> Lease {
        Lease {
            client,
            table: table.to_owned(),
            key: key.to_owned(),
            me: me.to_owned(),
            address: None,
            duration,
            held: None,
        }
    }

    /// Advertises `address` (`host:port`) in the lease item while this replica holds it, so
    /// that followers pass heartbeats on to it.
    pub fn advertising(mut self, address: Option<String>) -> Lease {
        self.address = address;
        self
    }

    /// This replica's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// How long a lease lasts.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Whether this replica believes it leads at `now`: it holds the lease and a third of the
    /// period is left (it renews every third, so a healthy leader never gets that close).
    pub fn leads(&self, now: Timestamp) -> bool {
        self.held
            .is_some_and(|(_, until)| now.plus(self.duration / 3) < until)
    }

    /// Renews the lease if held, else tries to take it. A failed call leaves leadership to
    /// expire on its own (no action is taken on it meanwhile: [`Lease::leads`] turns false).
    pub async fn refresh(&mut self, now: Timestamp) -> Result<Role, ProviderError> {
        if let Some((fence, _)) = self.held {
            match self.renew(fence, now).await {
                Ok(role) => return Ok(role),
                Err(e) if conditional_failed(&e) => self.held = None,
                Err(e) => return Err(e),
            }
        }
        self.acquire(now).await
    }

    /// The check right before acting: renews with the fence this replica holds. `true` only if
    /// DynamoDB confirms it is still the holder with that fence.
    pub async fn fence(&mut self, now: Timestamp) -> bool {
        let Some((fence, _)) = self.held else {
            return false;
        };
        match self.renew(fence, now).await {
            Ok(Role::Leader { .. }) => self.leads(now),
            Ok(Role::Follower { .. }) => false,
            Err(e) => {
                if conditional_failed(&e) {
                    self.held = None;
                }
                false
            }
        }
    }

    async fn renew(&mut self, fence: u64, now: Timestamp) -> Result<Role, ProviderError> {
        let until = now.plus(self.duration);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("lease", s(&self.key))
            .update_expression("SET expires_ms = :until, address = :address")
            .condition_expression("holder = :me AND fence = :fence")
            .expression_attribute_values(":until", n(until.as_millis()))
            .expression_attribute_values(":me", s(&self.me))
            .expression_attribute_values(":fence", n(fence))
            .expression_attribute_values(":address", self.address_value())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        self.held = Some((fence, until));
        Ok(Role::Leader { fence, until })
    }

    async fn acquire(&mut self, now: Timestamp) -> Result<Role, ProviderError> {
        let until = now.plus(self.duration);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("lease", s(&self.key))
            .update_expression(
                "SET holder = :me, expires_ms = :until, fence = if_not_exists(fence, :zero) + :one, \
                 address = :address",
            )
            .condition_expression("attribute_not_exists(holder) OR expires_ms < :now")
            .expression_attribute_values(":me", s(&self.me))
            .expression_attribute_values(":until", n(until.as_millis()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":address", self.address_value())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => {
                let fence = number(o.attributes(), "fence").unwrap_or(1);
                self.held = Some((fence, until));
                Ok(Role::Leader { fence, until })
            }
            Err(e) => {
                let e = classify(&e);
                if !conditional_failed(&e) {
                    return Err(e);
                }
                self.held = None;
                let (holder, address) = self.holder().await.unwrap_or_default();
                Ok(Role::Follower { holder, address })
            }
        }
    }

    /// The advertised address as an attribute (empty when unknown: no follower forwards).
    fn address_value(&self) -> AttributeValue {
        s(self.address.as_deref().unwrap_or(""))
    }

    /// The current holder's id and advertised address, if the item can be read.
    async fn holder(&self) -> Option<(Option<String>, Option<String>)> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("lease", s(&self.key))
            .consistent_read(true)
            .send()
            .await
            .ok()?;
        let item = out.item()?;
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) if !v.is_empty() => Some(v.clone()),
            _ => None,
        };
        Some((text("holder"), text("address")))
    }
}

fn number(attrs: Option<&HashMap<String, AttributeValue>>, name: &str) -> Option<u64> {
    match attrs?.get(name)? {
        AttributeValue::N(v) => v.parse().ok(),
        _ => None,
    }
}
