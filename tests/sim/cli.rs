//! The command line: the simulator refuses numbers it cannot use and output files it cannot
//! open before running anything, a closed pipe ends a run quietly, and the completion scripts
//! and the manual page cover every subcommand.

use std::process::Command;

#[test]
fn numbers_the_simulator_cannot_use_are_refused_with_the_flag() {
    // Reproduction (issue "hostile input"): `--boot-jitter NaN` was accepted.
    for (flag, value, says) in [
        (
            "--boot-jitter",
            "NaN",
            "--boot-jitter NaN must be a number from 0 to 3",
        ),
        ("--scale", "inf", "--scale inf must be a number above 0"),
        (
            "--restart-every",
            "0s",
            "--restart-every \"0s\" must be longer than zero",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(["simulate", flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn an_output_file_that_cannot_be_opened_fails_before_the_run_and_is_named() {
    // Reproduction (issue "hostile input", finding 9): `--plot` errors did not name the file
    // and came after the whole run.
    let missing = std::env::temp_dir().join("spillway-no-such-dir/plot.svg");
    for (flag, value) in [
        ("--plot", missing.to_str().unwrap()),
        ("--report-json", missing.to_str().unwrap()),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(["simulate", "--scenario", "diurnal", flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot write {value}")),
            "{flag}: {stderr}"
        );
        assert!(
            !stdout.contains("billed h"),
            "{flag}: the run went ahead before the file was opened:\n{stdout}"
        );
    }
    if std::path::Path::new("/dev/full").exists() {
        let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(["simulate", "--scenario", "diurnal", "--plot", "/dev/full"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("cannot write /dev/full"), "{stderr}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    // Reproduction (issue "ops habits"): `spillway simulate | head -1` panicked with
    // "failed printing to stdout: Broken pipe".
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["simulate", "--scenario", "diurnal"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is closed here, before the report is printed.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

#[test]
fn completions_and_the_manual_page_cover_every_subcommand() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        String::from_utf8(out.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for word in [
            "simulate",
            "compare",
            "run",
            "backfill",
            "policy",
            "max-connections",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let page = run(&["man"]);
    assert!(
        page.starts_with(".ie") && page.contains(".TH spillway 1"),
        "{page}"
    );
    for section in [
        "SPILLWAY SIMULATE",
        "SPILLWAY RUN",
        "SPILLWAY BACKFILL SUBMIT",
        "SPILLWAY POLICY CHECK",
    ] {
        assert!(page.contains(&format!(".SH \"{section}\"")), "no {section}");
    }
    assert!(
        page.contains("max\\-connections"),
        "run's options are in the page"
    );
}
