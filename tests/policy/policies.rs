//! Policy files as specifications: every shipped policy validates, and every invalid fixture
//! fails with exactly the problems its `# expect:` lines name (field and message), each with a
//! line number, all reported at once.

use std::path::{Path, PathBuf};

use spillway::policy::{self, PolicyError};

fn files_in(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "toml")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_policy_validates() {
    let files = files_in("policies", "");
    assert!(
        files.len() >= 3,
        "expected at least three policies, found {files:?}"
    );
    for f in files {
        if let Err(e) = policy::load(&f) {
            panic!("{e}");
        }
    }
}

#[test]
fn the_embedded_default_is_policies_picnik() {
    let on_disk =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/picnik.toml"))
            .unwrap();
    assert_eq!(on_disk, policy::EMBEDDED_DEFAULT);
    let p = policy::embedded_default();
    assert_eq!(p.name, "picnik");
    assert_eq!(p.static_workers(), 40);
    assert_eq!(p.first_ec2().map(|(_, e)| e.max), Some(200));
}

#[test]
fn every_invalid_fixture_fails_with_its_expected_problems() {
    let files = files_in("tests/fixtures/policies", "invalid-");
    assert!(
        files.len() >= 6,
        "expected invalid fixtures, found {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expected.is_empty(), "{}: no `# expect:` line", f.display());
        let err = match policy::load(&f) {
            Ok(_) => panic!("{} validated but should fail", f.display()),
            Err(e) => e,
        };
        let PolicyError::Invalid { problems, .. } = &err else {
            panic!("{}: unexpected error {err}", f.display())
        };
        let rendered: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        for want in &expected {
            assert!(
                rendered.iter().any(|r| r.starts_with(want)),
                "{}: expected a problem starting with {want:?}, got {rendered:#?}",
                f.display()
            );
        }
        assert_eq!(
            rendered.len(),
            expected.len(),
            "{}: extra problems: {rendered:#?}",
            f.display()
        );
        let message = err.to_string();
        for p in problems {
            assert!(p.line >= 1);
            assert!(
                message.contains(&format!(
                    "{}:{}:{}: {}",
                    f.display(),
                    p.line,
                    p.col,
                    p.field
                )),
                "{message}"
            );
        }
    }
}

#[test]
fn oracle_is_refused_in_policy_files() {
    let text = policy::EMBEDDED_DEFAULT.replace("strategy = \"spillway\"", "strategy = \"oracle\"");
    let err = policy::from_toml_str(&text, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("oracle"), "{err}");
}

#[test]
fn policies_too_large_to_be_real_are_refused_quickly_with_their_bound() {
    // Reproduction (issue "hostile input", finding 9): 10k → 40k pools parsed in 0.09 → 3.1 s
    // and a 50 MB policy ran past 60 s at 2 GB.
    let base = std::fs::read_to_string("policies/picnik.toml").unwrap();
    let pools: String = (0..1000)
        .map(|n| format!("\n[[pool]]\nname = \"dc{n}\"\nkind = \"static\"\nworkers = 1\n"))
        .collect();
    let err = spillway::policy::from_toml_str(&(base.clone() + &pools), "many")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pool: 1002 [[pool]] sections: a policy has at most 256"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("spillway-big-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.toml");
    let padding = format!("# {}\n", "x".repeat(200));
    std::fs::write(&big, base + &padding.repeat(300_000)).unwrap();
    let err = spillway::policy::load(&big).unwrap_err().to_string();
    assert!(err.contains("larger than a policy may be"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_kind_of_fault_is_reported_at_once_with_line_column_and_a_hint() {
    // Reproduction (issue "ops habits"): `policy check` stopped at the first unknown field or
    // wrong type (`intervall` alone was reported), `interval = 60` gave "invalid type: integer
    // `60`, expected a string" with no field, and `[contrl]` hid every other problem.
    let text = std::fs::read_to_string("tests/fixtures/policies/shape-many-faults.toml").unwrap();
    let err = policy::from_toml_str(&text, "many.toml")
        .unwrap_err()
        .to_string();
    let want = "many.toml: 9 problems in policy
  many.toml:4:1: control.intervall: unknown field \"intervall\"; did you mean \"interval\"?
  many.toml:5:12: control.interval: must be a duration in quotes, like \"60s\" or \"5m\" (a bare 60 has no unit)
  many.toml:6:15: control.stale_after: 1s is shorter than control.interval (1m): every sample would be stale
  many.toml:8:19: target.free_busy_ratio: must be a number, like 0.25 (got text)
  many.toml:13:11: pool[0].workers: -4 is out of range: must be a whole number ≥ 0
  many.toml:17:7: pool[1].min: min (20) is greater than max (10)
  many.toml:19:17: pool[1].cost_per_hour: must be a number, like 0.25 (got text)
  many.toml:20:18: pool[1].instance_types: must be a list of texts, like [\"c5.large\", \"m5.large\"] (got text)
  many.toml:21:2: contrl: unknown section \"contrl\"; did you mean \"control\"?";
    assert_eq!(err, want);
}
