//! The time-of-day profile `decide` learns across days: mean demand per 15-minute slot,
//! blended day over day, trusted once a whole day has been seen. It lets the spillway strategy
//! expect the morning's rise one boot time early.

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// Time-of-day profile resolution: 96 slots of 15 minutes.
pub const PROFILE_SLOTS: usize = 96;
const SLOT_MS: i64 = 86_400_000 / PROFILE_SLOTS as i64;

/// Mean demand per 15-minute slot of the day, blended across days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeOfDayProfile {
    /// Learned mean demand per slot; `None` until a whole slot has been seen.
    pub slots: Vec<Option<f64>>,
    /// The slot being accumulated, its running sum and count.
    pub current: Option<(i64, f64, u32)>,
    /// How many slots were completed in all: the profile is trusted after a day.
    pub completed: u32,
}

impl Default for TimeOfDayProfile {
    fn default() -> Self {
        TimeOfDayProfile {
            slots: vec![None; PROFILE_SLOTS],
            current: None,
            completed: 0,
        }
    }
}

impl TimeOfDayProfile {
    /// Adds a demand sample taken at `now`.
    pub fn record(&mut self, now: Timestamp, demand: f64) {
        let slot = now.as_millis().div_euclid(SLOT_MS);
        match &mut self.current {
            Some((s, sum, n)) if *s == slot => {
                *sum += demand;
                *n += 1;
            }
            _ => {
                if let Some((s, sum, n)) = self.current.take()
                    && n > 0
                {
                    let i = s.rem_euclid(PROFILE_SLOTS as i64) as usize;
                    let mean = sum / n as f64;
                    self.slots[i] = Some(match self.slots[i] {
                        Some(old) => 0.7 * old + 0.3 * mean,
                        None => mean,
                    });
                    self.completed += 1;
                }
                self.current = Some((slot, demand, 1));
            }
        }
    }

    /// The learned mean demand in the slot containing `at`, once a whole day has been seen.
    pub fn at(&self, at: Timestamp) -> Option<f64> {
        if self.completed < PROFILE_SLOTS as u32 {
            return None;
        }
        let i = at
            .as_millis()
            .div_euclid(SLOT_MS)
            .rem_euclid(PROFILE_SLOTS as i64) as usize;
        self.slots[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_is_silent_until_a_day_is_seen() {
        let mut p = TimeOfDayProfile::default();
        for minute in 0..(24 * 60 + 30) {
            let demand = if (600..700).contains(&(minute % 1440)) {
                50.0
            } else {
                5.0
            };
            p.record(Timestamp::from_millis(minute * 60_000), demand);
            if minute < 24 * 60 - 15 {
                assert!(p.at(Timestamp::from_millis(0)).is_none());
            }
        }
        assert_eq!(p.at(Timestamp::from_millis(610 * 60_000)), Some(50.0));
        assert_eq!(p.at(Timestamp::from_millis(100 * 60_000)), Some(5.0));
    }
}
