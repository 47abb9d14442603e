//! Binding a workload's queues to the policy's `[[queue]]`s before a simulation.
//!
//! A job log may name each job's queue (`submit_s,duration_s,queue`), and a built-in scenario
//! may submit to several queues (`gpu-mix`). With a policy that has job classes, each job then
//! waits in the `[[queue]]` of that name and only the pools the queue names take it; a job
//! whose trace names no queue goes to the policy's first interactive queue, and a backfill's
//! jobs to its first batch queue. Without job classes the farm serves every job alike, and the names
//! are not needed.

use crate::policy::{Class, Policy, QueueClass};

use super::trace::{Job, JobClass};

/// Points every job's `queue` at the policy's `[[queue]]` it waits in, when the policy has job
/// classes (`names` are the workload's queue names, which `Job::queue` indexes until then).
/// Every problem is reported at once; nothing is changed when there is one.
pub fn bind_queues(jobs: &mut [Job], names: &[String], policy: &Policy) -> Result<(), String> {
    if policy.classes.is_empty() {
        for j in jobs.iter_mut() {
            j.queue = 0;
        }
        return Ok(());
    }
    let first = |class: QueueClass| policy.queues.iter().position(|q| q.class == class);
    let mut problems = Vec::new();
    let mut to_policy: Vec<usize> = Vec::with_capacity(names.len());
    for name in names {
        match policy.queues.iter().position(|q| q.name == *name) {
            Some(i) => to_policy.push(i),
            None => {
                problems.push(format!(
                    "the workload submits to queue \"{name}\", which policy {} does not have \
                     (its queues: {})",
                    policy.name,
                    policy
                        .queues
                        .iter()
                        .map(|q| q.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                to_policy.push(0);
            }
        }
    }
    let has_batch = jobs.iter().any(|j| j.class == JobClass::Batch);
    let first_batch = first(QueueClass::Batch);
    if has_batch && first_batch.is_none() {
        problems.push(format!(
            "the workload has batch jobs, and policy {} has job classes but no [[queue]] with \
             class = \"batch\" to hold them",
            policy.name
        ));
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let first_interactive = first(QueueClass::Interactive).unwrap_or(0);
    for j in jobs.iter_mut() {
        let q = match j.class {
            // A backfill's jobs (`--backfill`, the `backfill` scenario) go to the batch queue.
            JobClass::Batch => first_batch.unwrap_or(0),
            JobClass::Interactive if names.is_empty() => first_interactive,
            JobClass::Interactive => to_policy[usize::from(j.queue)],
        };
        j.queue = q as u16;
        // A job in a batch queue is batch work, whatever the trace's row says.
        if policy.queues[q].class == QueueClass::Batch {
            j.class = JobClass::Batch;
        }
    }
    Ok(())
}

/// The jobs of `class` (bound jobs, in their order): what its oracle plans and its floor
/// counts.
pub fn class_jobs(class: &Class, jobs: &[Job]) -> Vec<Job> {
    jobs.iter()
        .filter(|j| class.queues.contains(&usize::from(j.queue)))
        .copied()
        .collect()
}
