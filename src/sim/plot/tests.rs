//! The chart's specifications: valid SVG on any input, peaks kept through downsampling,
//! readable axes, pools coloured by kind, and a demand spike that leaves the fleet readable.

use super::axis::count_label;
use super::*;

fn sample(t_s: f64, v: f64, capacity: Vec<f64>) -> PlotSample {
    PlotSample {
        t_s,
        queued: v,
        queued_batch: 0.0,
        demand: v,
        busy: v,
        capacity,
        booting: v,
        by_queue: Vec::new(),
    }
}

fn data(pools: &[&str], samples: Vec<PlotSample>) -> PlotData {
    PlotData {
        title: "spillway on test.csv ×8".into(),
        subtitle: "p99 wait 12 s · $1.50".into(),
        pools: pools.iter().map(|p| p.to_string()).collect(),
        pool_kinds: Vec::new(),
        samples,
        queues: Vec::new(),
    }
}

/// Most digits after a decimal point in any number inside a tag (text content is skipped:
/// titles may say `$140.18`).
fn max_decimals(svg: &str) -> usize {
    let tags = svg
        .split('<')
        .map(|part| part.split('>').next().unwrap_or(""));
    let numbers = tags.flat_map(|tag| tag.split(|c: char| !c.is_ascii_digit() && c != '.'));
    numbers
        .map(|n| n.split_once('.').map_or(0, |(_, frac)| frac.len()))
        .max()
        .unwrap_or(0)
}

/// Structural properties every chart must have, whatever the input.
fn assert_well_formed(svg: &str) {
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("viewBox=\"0 0 1200 700\"") && svg.contains("sans-serif"));
    assert!(svg.ends_with("</svg>\n"));
    assert_eq!(svg.matches("<svg").count(), 1);
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "non-finite number in output"
    );
    assert!(max_decimals(svg) <= 1, "number with more than one decimal");
}

#[test]
fn degenerate_inputs_give_valid_charts() {
    let zeros: Vec<PlotSample> = (0..50)
        .map(|i| sample(i as f64 * 60.0, 0.0, vec![0.0; 2]))
        .collect();
    let mut odd = vec![
        sample(0.0, f64::NAN, vec![f64::INFINITY]),
        sample(f64::NAN, f64::NEG_INFINITY, vec![]),
        sample(600.0, 3.0, vec![1.0, 2.0, 3.0]),
        sample(600.0, -5.0, vec![1.0]),
    ];
    odd[0].busy = f64::INFINITY;
    let cases = [
        data(&[], vec![]),
        data(&["dc", "ec2"], vec![]),
        data(&["dc"], vec![sample(42.0, 3.0, vec![4.0])]),
        data(&["dc", "ec2"], zeros),
        data(&[], odd.clone()),
        data(&["dc"], odd),
        data(
            &["dc"],
            vec![sample(5.0, 1.0, vec![1.0]), sample(5.0, 2.0, vec![2.0])],
        ),
        data(
            &["dc"],
            vec![
                sample(-1e300, 1.0, vec![1.0]),
                sample(1e300, 1.0, vec![1.0]),
            ],
        ),
    ];
    for case in &cases {
        assert_well_formed(&render_svg(case));
    }
    assert!(render_svg(&cases[0]).contains(">no samples</text>"));
    // Capacity entries beyond the named pools still get a legend entry.
    let ragged = render_svg(&cases[4]);
    assert!(ragged.contains(">pool 3</text>") && !ragged.contains(">pool 4</text>"));
}

#[test]
fn titles_and_names_are_escaped() {
    let mut d = data(
        &["<dc>", "R&D"],
        vec![
            sample(0.0, 1.0, vec![1.0, 1.0]),
            sample(60.0, 2.0, vec![1.0, 1.0]),
        ],
    );
    d.title = "a < b & c > d".into();
    let svg = render_svg(&d);
    assert_well_formed(&svg);
    assert!(svg.contains(">a &lt; b &amp; c &gt; d</text>"));
    assert!(svg.contains(">&lt;dc&gt;</text>") && svg.contains(">R&amp;D</text>"));
    assert!(!svg.contains("<dc>") && !svg.contains("R&D"));
}

#[test]
fn legend_names_every_series() {
    let svg = render_svg(&data(
        &["datacenter", "ec2"],
        vec![sample(0.0, 1.0, vec![1.0, 1.0])],
    ));
    for name in [
        "datacenter",
        "ec2",
        "booting",
        "busy",
        "demand",
        "queued jobs",
    ] {
        assert!(
            svg.contains(&format!(">{name}</text>")),
            "legend lacks {name}"
        );
    }
}

#[test]
fn time_labels_follow_the_span() {
    let trace = |minutes: usize| {
        let samples = (0..=minutes)
            .map(|i| sample(i as f64 * 60.0, 1.0, vec![1.0]))
            .collect();
        render_svg(&data(&["dc"], samples))
    };
    assert!(trace(120).contains(">30m</text>"));
    assert!(trace(24 * 60).contains(">6h</text>"));
    let week = trace(7 * 24 * 60);
    assert!(week.contains(">day 3</text>") && !week.contains(">6h</text>"));
    assert!(week.contains("peak over 10m"));
}

#[test]
fn year_trace_is_small_and_keeps_its_peaks() {
    let n = 525_600;
    let mut samples: Vec<PlotSample> = (0..n)
        .map(|i| {
            let v = 50.0 + 40.0 * (i as f64 / 1440.0 * std::f64::consts::TAU).sin();
            PlotSample {
                t_s: i as f64 * 60.0,
                queued: v / 10.0,
                queued_batch: 0.0,
                demand: v,
                busy: v,
                capacity: vec![60.0, v],
                booting: 1.0,
                by_queue: Vec::new(),
            }
        })
        .collect();
    samples[300_001].queued = 4_321.0;
    samples[77_777].demand = 1_234.0;
    let svg = render_svg(&data(&["dc", "ec2"], samples));
    assert_well_formed(&svg);
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
    // Single-sample spikes survive: the queue's sets its axis (its round top is
    // labelled); demand's, far above the fleet, is named at the top of the fleet panel.
    let top = |max: f64, target| count_label(*nice_ticks(max, target, 1.0).last().unwrap());
    assert!(svg.contains(&format!(">{}</text>", top(4_321.0, 3))));
    assert!(svg.contains(&format!(
        "demand off scale: peaks at {} workers",
        count_label(1_234.0)
    )));
    // Every series path has at most one point per column (areas: two boundaries).
    for path in svg.split("<path d=\"M").skip(1) {
        let d = &path[..path.find('"').unwrap()];
        assert!(d.split_whitespace().count() <= 4 * MAX_COLUMNS + 1);
    }
    assert!(svg.contains("day 300"));
}

#[test]
fn a_backfill_spike_leaves_the_fleet_readable_and_batch_apart() {
    // Reproduction (issue "ops habits"): the backfill scenario's fleet was a flat line under
    // a 7,000-worker demand spike, interactive and batch queues were not told apart, and
    // EC2's colour changed when a command pool was present.
    let mut samples: Vec<PlotSample> = (0..100)
        .map(|i| PlotSample {
            queued_batch: if i == 50 { 90_000.0 } else { 0.0 },
            ..sample(i as f64 * 60.0, 40.0, vec![40.0, 20.0])
        })
        .collect();
    samples[50].demand = 7_000.0;
    samples[50].queued = 90_500.0;
    let mut d = data(&["datacenter", "ec2"], samples);
    d.pool_kinds = vec![PoolLook::Datacenter, PoolLook::Ec2];
    let svg = render_svg(&d);
    assert_well_formed(&svg);
    let note = svg.find("off scale").map(|i| &svg[i..i + 40]);
    assert!(
        svg.contains("demand off scale: peaks at 7000 workers"),
        "{note:?}"
    );
    assert!(
        !svg.contains(">8000</text>"),
        "the scale followed the spike"
    );
    assert!(svg.contains(">queued batch</text>") && svg.contains(">queued interactive</text>"));
    // EC2 is orange whether or not a command pool comes before it.
    let ec2_orange = |kinds: Vec<PoolLook>| colours(&kinds, kinds.len()).last().copied();
    let plain = ec2_orange(vec![PoolLook::Datacenter, PoolLook::Ec2]);
    let with_command = ec2_orange(vec![PoolLook::Datacenter, PoolLook::Command, PoolLook::Ec2]);
    assert_eq!(plain, with_command);
}

#[test]
fn with_job_classes_each_queue_is_a_line_of_its_own() {
    let samples: Vec<PlotSample> = (0..60)
        .map(|i| PlotSample {
            by_queue: vec![f64::from(i), f64::from(60 - i)],
            queued: 60.0,
            ..sample(f64::from(i) * 60.0, 10.0, vec![40.0, 5.0, 3.0])
        })
        .collect();
    let mut d = data(&["datacenter", "cpu-ec2", "gpu-ec2"], samples);
    d.queues = vec!["renders".into(), "gpu".into()];
    let svg = render_svg(&d);
    assert_well_formed(&svg);
    assert!(svg.contains(">queue renders</text>") && svg.contains(">queue gpu</text>"));
    for colour in &super::QUEUE_LINES[..2] {
        assert!(
            svg.contains(&format!("stroke=\"{colour}\" stroke-width=\"1.4\"")),
            "{colour}"
        );
    }
    // Without classes there is no queue line.
    let plain = render_svg(&data(&["datacenter"], vec![sample(0.0, 1.0, vec![1.0])]));
    assert!(!plain.contains(super::QUEUE_LINES[0]));
}
