//! The real app in-process, for tests: [`spawn_app`] builds it with `App::build` (the
//! router, workers, scheduler and background tasks `anomstack serve` runs, as the settings
//! switch them) on a free port of 127.0.0.1 with the test's database, and serves it until
//! [`TestApp::stop`] (or the test ends).

use anomstack::app::{App, AppError};
use anomstack::config::{Config, EnvVars, Settings};
use anomstack::store::Store;
use anomstack::web::AppState;

/// Environment for an app that runs nothing by itself (no scheduler, worker or config
/// watcher): the test decides when jobs run.
pub const QUIET: [(&str, &str); 3] = [
    ("ANOMSTACK_SCHEDULER", "false"),
    ("ANOMSTACK_WORKERS", "false"),
    ("ANOMSTACK_CONFIG_POLL_SECONDS", "0"),
];

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// The app's handler state, for sending requests to its router without a socket.
    pub state: AppState,
    pub store: Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), AppError>>>,
}

/// The app `settings` and `config` describe, serving on a free port.
pub async fn spawn_app(mut settings: Settings, config: Config, env: EnvVars) -> TestApp {
    settings.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let app = App::build(settings, config, env)
        .await
        .expect("the app builds");
    let base = format!("http://{}", app.address());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        store: state.store.clone(),
        state,
        stop: Some(stop),
        served: Some(served),
    }
}

impl TestApp {
    /// Stops the app and waits until its server, workers and tasks have finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("the app's task")
                .expect("the app stops cleanly");
        }
    }
}
