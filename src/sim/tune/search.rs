//! Where `tune` looks next: a seeded (μ + λ) evolution strategy over the unit cube of the
//! knobs, started from a Latin hypercube.
//!
//! The problem has one objective (EC2 cost) under one constraint (p99 wait within the SLO, and
//! the batch deadline), six knobs, and an evaluation of 0.1–3 s: a grid of five values per knob
//! is 15,625 simulations, this finds the cheap edge of the feasible region in a few hundred.
//! Parents are the cheapest feasible points, then the infeasible ones closest to the SLO, so
//! the search presses along the constraint's boundary, where the cheapest feasible policy is;
//! the step shrinks each generation. Pure and seeded: the same history gives the same proposals
//! however many threads evaluate them.

use crate::sim::rng::SimRng;

/// What the search needs to know of an evaluated point.
#[derive(Debug, Clone)]
pub struct Scored {
    pub point: Vec<f64>,
    pub cost: f64,
    /// p99 wait over the SLO (1.0 is at the SLO).
    pub wait_ratio: f64,
    pub feasible: bool,
}

/// `n` points spread over the unit cube of `dims` dimensions: each dimension's n strata hit once.
pub fn latin_hypercube(n: usize, dims: usize, rng: &mut SimRng) -> Vec<Vec<f64>> {
    let mut columns: Vec<Vec<f64>> = (0..dims)
        .map(|_| {
            let mut col: Vec<f64> = (0..n)
                .map(|i| (i as f64 + rng.uniform()) / n as f64)
                .collect();
            // Fisher–Yates.
            for i in (1..n).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                col.swap(i, j);
            }
            col
        })
        .collect();
    (0..n)
        .map(|i| columns.iter_mut().map(|c| c[i]).collect())
        .collect()
}

/// Where each knob is moved alone from `from` (a one-knob sweep per knob, denser at the low
/// end of the range, where the cheap settings are).
pub fn axes(from: &[f64]) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for d in 0..from.len() {
        for u in [0.0, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4, 0.7] {
            let mut p = from.to_vec();
            p[d] = u;
            out.push(p);
        }
    }
    out
}

/// Best first: feasible by cost, then infeasible by how far over the SLO.
pub fn rank(history: &[Scored]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..history.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&history[a], &history[b]);
        y.feasible
            .cmp(&x.feasible)
            .then_with(|| {
                if x.feasible {
                    x.cost.total_cmp(&y.cost)
                } else {
                    x.wait_ratio.total_cmp(&y.wait_ratio)
                }
            })
            .then(a.cmp(&b))
    });
    order
}

/// The step of generation `g` (0 is the first after the hypercube).
pub fn step(g: usize) -> f64 {
    (0.25 * 0.8f64.powi(g as i32)).max(0.02)
}

/// `n` new points bred from the best of `history`, with mutation step `sigma`.
pub fn offspring(history: &[Scored], n: usize, sigma: f64, rng: &mut SimRng) -> Vec<Vec<f64>> {
    let order = rank(history);
    let mu = order.len().clamp(1, 6);
    let parents: Vec<&[f64]> = order[..mu]
        .iter()
        .map(|&i| history[i].point.as_slice())
        .collect();
    // Rank weights: the best parent is picked mu times as often as the last.
    let total = mu * (mu + 1) / 2;
    let pick = |rng: &mut SimRng| {
        let mut r = (rng.next_u64() % total as u64) as usize;
        for (i, p) in parents.iter().enumerate() {
            let w = mu - i;
            if r < w {
                return *p;
            }
            r -= w;
        }
        parents[0]
    };
    (0..n)
        .map(|_| {
            let a = pick(rng);
            let mut child = a.to_vec();
            if rng.chance(0.3) {
                let b = pick(rng);
                for (c, &y) in child.iter_mut().zip(b) {
                    if rng.chance(0.5) {
                        *c = y;
                    }
                }
            }
            let dims = child.len().max(1);
            let forced = (rng.next_u64() % dims as u64) as usize;
            for (d, c) in child.iter_mut().enumerate() {
                if d == forced || rng.chance(0.5) {
                    *c = (*c + sigma * rng.normal()).clamp(0.0, 1.0);
                }
            }
            child
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hypercube_hits_every_stratum_of_every_dimension_once() {
        let mut rng = SimRng::new(7, 1);
        let pts = latin_hypercube(10, 3, &mut rng);
        for d in 0..3 {
            let mut strata: Vec<usize> = pts.iter().map(|p| (p[d] * 10.0) as usize).collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn feasible_points_rank_before_infeasible_and_by_cost() {
        let s = |cost, wait_ratio, feasible| Scored {
            point: vec![],
            cost,
            wait_ratio,
            feasible,
        };
        let h = vec![
            s(1.0, 2.0, false),
            s(9.0, 0.5, true),
            s(5.0, 0.9, true),
            s(0.5, 1.1, false),
        ];
        assert_eq!(rank(&h), vec![2, 1, 3, 0]);
    }

    /// On a known problem (cost falls with x, the constraint holds for x ≥ 0.7), the search
    /// closes in on the boundary.
    #[test]
    fn the_search_finds_the_cheap_edge_of_the_feasible_region() {
        let mut rng = SimRng::new(3, 9);
        let eval = |p: Vec<f64>| Scored {
            cost: 10.0 - 5.0 * p[0] + p[1],
            wait_ratio: 1.7 - p[0],
            feasible: p[0] <= 0.7,
            point: p,
        };
        let mut history: Vec<Scored> = latin_hypercube(8, 2, &mut rng)
            .into_iter()
            .map(eval)
            .collect();
        for g in 0..10 {
            let next = offspring(&history, 8, step(g), &mut rng);
            history.extend(next.into_iter().map(eval));
        }
        let best = &history[rank(&history)[0]];
        assert!(best.feasible);
        assert!(best.point[0] > 0.6 && best.point[1] < 0.15, "{best:?}");
    }
}
