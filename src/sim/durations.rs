//! How the durations of an arrival series' jobs are drawn (`--durations`): fixed,
//! exponential or log-normal, parsed from `fixed:20s`, `exp:20s` or `lognormal:20s:1.0`.

use super::rng::SimRng;
use crate::model::parse_duration;

/// How job durations are drawn for an arrival series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DurationDist {
    Fixed(f64),
    Exponential { mean: f64 },
    LogNormal { median: f64, sigma: f64 },
}

impl DurationDist {
    /// Parses `fixed:20s`, `exp:20s` or `lognormal:20s:1.0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs_f64());
        let dist = match parts.as_slice() {
            ["fixed", d] => DurationDist::Fixed(secs(d)?),
            ["exp", d] => DurationDist::Exponential { mean: secs(d)? },
            ["lognormal", d, sigma] => DurationDist::LogNormal {
                median: secs(d)?,
                sigma: sigma
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("bad sigma \"{sigma}\" in \"{text}\""))?,
            },
            _ => {
                return Err(format!(
                    "\"{text}\" is not a duration distribution (fixed:20s | exp:20s | lognormal:20s:1.0)"
                ));
            }
        };
        Ok(dist)
    }

    /// Draws one duration in seconds.
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        match *self {
            DurationDist::Fixed(d) => d,
            DurationDist::Exponential { mean } => rng.exponential(mean),
            DurationDist::LogNormal { median, sigma } => rng.lognormal(median, sigma),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_specs_parse() {
        assert_eq!(
            DurationDist::parse("fixed:20s").unwrap(),
            DurationDist::Fixed(20.0)
        );
        assert_eq!(
            DurationDist::parse("exp:1m").unwrap(),
            DurationDist::Exponential { mean: 60.0 }
        );
        assert!(DurationDist::parse("lognormal:20s").is_err());
        assert!(DurationDist::parse("lognormal:20s:-1").is_err());
    }
}
