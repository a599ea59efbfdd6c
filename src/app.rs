//! The app assembled from its settings and configuration, as `anomstack serve` runs it and
//! as tests start it: [`App::build`] opens the database, binds the port and sets up the
//! services; [`App::run_until_stopped`] serves the dashboard and runs the background tasks
//! (config watcher, scheduler, seeding, housekeeping, workers) until a shutdown future
//! resolves, then lets in-flight requests and runs finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{Config, EnvVars, LiveConfig, Settings};
use crate::jobs::{JobCtx, Services, ServicesError};
use crate::queue::{housekeeping, scheduler, worker};
use crate::store::{Store, StoreError};
use crate::web::{AppState, router};

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the app database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Services(#[from] ServicesError),
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
}

/// A built app, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    address: SocketAddr,
    settings: Settings,
    services: Services,
    config: Arc<LiveConfig>,
    state: AppState,
}

impl App {
    /// Opens the database, binds `settings.listen` (port 0 picks a free one) and sets up the
    /// channels, LLM and engines the settings name.
    pub async fn build(settings: Settings, config: Config, env: EnvVars) -> Result<Self, AppError> {
        let store = Store::open_from(&settings).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| AppError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| AppError::Listen {
            addr: settings.listen,
            source,
        })?;
        let services = Services::from_settings(store, &settings)?;
        let config = LiveConfig::new(config, settings.clone(), env);
        let state = AppState::new(services.store.clone(), config.clone())
            .with_public_feedback(settings.public_feedback)
            .with_admin(settings.admin.clone())
            .with_replica_sync(settings.replica_sync)
            .with_services(services.clone());
        match &settings.admin.credentials {
            Some(c) => tracing::info!(user = c.username, "admin panel on at /admin"),
            None => tracing::info!(
                "admin panel off: set ANOMSTACK_ADMIN_USERNAME and ANOMSTACK_ADMIN_PASSWORD_HASH (see `anomstack hash-password`)"
            ),
        }
        Ok(Self {
            listener,
            address,
            settings,
            services,
            config,
            state,
        })
    }

    /// Where the app listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// What every request handler shares (tests send requests to its router directly).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves and runs the background tasks until `shutdown` resolves (or the server fails),
    /// then waits for in-flight requests and lets the workers finish their runs.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let (fire, stop) = Shutdown::new();
        let fire = Arc::new(fire);
        let background = self.start_background(&stop);
        let outside = fire.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = outside.send(true);
        });
        tracing::info!(
            version = crate::version::VERSION,
            "listening on http://{}",
            self.address
        );
        let served = axum::serve(
            self.listener,
            router(self.state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.wait())
        .await;
        // A server that failed stops the rest too.
        let _ = fire.send(true);
        for task in background {
            let _ = task.await;
        }
        served.map_err(AppError::Serve)
    }

    /// The tasks the settings switch on, each stopping when `stop` fires.
    fn start_background(&self, stop: &Shutdown) -> Vec<JoinHandle<()>> {
        let settings = &self.settings;
        let mut tasks = Vec::new();
        if let Some(every) = settings.config_poll {
            tasks.push(tokio::spawn(
                self.config.clone().watch(every, stop.clone().wait()),
            ));
        }
        if settings.scheduler {
            tasks.push(tokio::spawn(scheduler::run(
                self.services.store.clone(),
                self.config.clone(),
                stop.clone().wait(),
            )));
        }
        if self.services.store.sync_status().is_some() {
            tasks.push(tokio::spawn(crate::store::sync::run(
                self.services.store.clone(),
                settings.replica_sync,
                stop.clone().wait(),
            )));
        }
        if settings.seed_hours > 0 {
            tasks.push(tokio::spawn(self.seed(settings.seed_hours, stop.clone())));
        }
        if let Some(keep) = settings.history {
            tasks.push(tokio::spawn(housekeeping::run(
                self.services.store.clone(),
                keep,
                worker::new_worker_id(),
                stop.clone().wait(),
            )));
        }
        if settings.workers {
            let env = Arc::new(worker::WorkerEnv {
                services: self.services.clone(),
                config: self.config.clone(),
                worker_id: worker::new_worker_id(),
                kill_after: settings.kill_run_after,
                stale_after: settings.worker_stale,
                held: Default::default(),
            });
            tasks.push(tokio::spawn(worker::run(
                env,
                settings.worker_concurrency,
                settings.shutdown_grace,
                stop.clone().wait(),
            )));
        }
        tasks
    }

    /// Gives empty batches `hours` of history, in the background: the dashboard answers at
    /// once and fills as batches are seeded; a shutdown stops it (each ingest is idempotent,
    /// so a later seed or schedule resumes).
    fn seed(&self, hours: u32, stop: Shutdown) -> impl Future<Output = ()> + Send + 'static {
        // History is not news: seeding sends no alerts.
        let quiet = Services {
            notifier: None,
            ..self.services.clone()
        };
        let config = self.config.current();
        async move {
            let ctx = JobCtx::for_run(&quiet, config.templates.clone(), chrono::Utc::now());
            let seed = crate::jobs::seed_empty_batches(
                &ctx,
                &config.batches,
                hours,
                chrono::Duration::minutes(10),
            );
            tokio::select! {
                _ = seed => {}
                () = stop.wait() => {}
            }
        }
    }
}

/// A shutdown signal many tasks can wait for.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// The signal and the function that fires it.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx))
    }

    /// Resolves once the signal has fired.
    pub async fn wait(mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `fly deploy` and Docker send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
