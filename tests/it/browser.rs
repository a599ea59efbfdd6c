//! The dashboard in Debian chromium, driven by playwright-core (`tests/browser/`), against
//! the real server on a seeded database. `scripts/install_test_deps.sh` installs chromium
//! and the node package; without them this test fails rather than passing unseen.

use std::path::PathBuf;
use std::time::Duration;

use crate::dashboard::site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let site = site(true).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(anomstack::serve::run(listener, site.state.clone(), async {
        let _ = stopped.await;
    }));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target").join("screenshots");
    let script = root.join("tests").join("browser").join("dashboard.mjs");
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&base)
        .arg(&shots)
        .current_dir(root.join("tests").join("browser"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser run took over 3 minutes")
        .expect("node runs (scripts/install_test_deps.sh installs it with chromium)");
    let _ = stop.send(());
    let _ = server.await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser steps failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    for step in [
        "home",
        "batch",
        "search",
        "window",
        "dark",
        "anomalies",
        "phone",
    ] {
        assert!(stdout.contains(&format!("ok   {step}")), "{stdout}");
        assert!(shots.join(format!("{step}.png")).is_file(), "{step}.png");
    }
}
