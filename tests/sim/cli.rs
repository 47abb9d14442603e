//! The simulator's command line refuses numbers it cannot use, before running anything.

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
