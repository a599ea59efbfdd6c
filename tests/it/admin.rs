//! The admin panel and the write API through the router, on a real libsql file: access
//! control on every route, login (CSRF, lockout, cookie flags, session rotation, logout),
//! run buttons through the real queue and worker, schedules, silences, the config page's
//! masking and reload, API tokens; and the real binary for "the password never reaches logs".

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anomstack::config::{
    AdminCredentials, AdminSettings, DatabaseLocation, EnvVars, LiveConfig, Secret,
};
use anomstack::queue::worker;
use anomstack::store::Store;
use anomstack::web::{AppState, router};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::store_local::count;
use crate::support::MetricsDir;
use crate::support::app::{QUIET, TestApp, spawn_app};

pub const USER: &str = "ops";
pub const PASSWORD: &str = "correct horse battery staple";

pub const BATCH: &str = "metric_batch: b\ningest_sql: SELECT datetime('now') AS metric_timestamp, 'm' || n AS metric_name, n * 1.5 AS metric_value FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3)\n";

pub struct Admin {
    pub app: TestApp,
    pub dir: MetricsDir,
    pub store: Store,
    pub state: AppState,
    pub live: Arc<LiveConfig>,
}

/// One hash for every app of the test binary, as every machine of a deployment gets the same
/// secret (a session names the credentials it was made with).
pub fn admin_settings() -> AdminSettings {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| anomstack::password::hash_password(PASSWORD).unwrap());
    AdminSettings {
        credentials: Some(AdminCredentials {
            username: USER.into(),
            password_hash: Secret::new(hash.clone()),
        }),
        ..AdminSettings::default()
    }
}

/// The app with batch `b` whose ingest makes three metrics, admin credentials, and a live
/// (reloadable) configuration with a secret in the environment. No scheduler, worker or
/// config watcher runs: tests queue jobs and run them with [`work_until`].
pub async fn admin_site(batch_yaml: &str) -> Admin {
    admin_app(batch_yaml, &[]).await
}

/// [`admin_site`] with more environment (`ANOMSTACK_WORKERS=true` runs its workers).
pub async fn admin_app(batch_yaml: &str, more_env: &[(&str, &str)]) -> Admin {
    admin_app_on(batch_yaml, more_env, None).await
}

/// [`admin_app`] on `database` (default: a file in its folder).
pub async fn admin_app_on(
    batch_yaml: &str,
    more_env: &[(&str, &str)],
    database: Option<DatabaseLocation>,
) -> Admin {
    let dir = MetricsDir::new();
    dir.write("b.yaml", batch_yaml);
    let mut pairs = vec![
        ("ANOMSTACK_SLACK_TOKEN", "xoxb-very-secret"),
        ("ANOMSTACK_PORT", "8080"),
    ];
    pairs.extend(QUIET);
    pairs.retain(|(k, _)| !more_env.iter().any(|(m, _)| m == k));
    pairs.extend(more_env.iter().copied());
    let env = EnvVars::from_pairs(pairs);
    let mut settings = dir.settings(&env);
    settings.database = database.unwrap_or_else(|| DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    });
    settings.admin = admin_settings();
    let config = anomstack::config::load(&settings, &env).unwrap();
    let app = spawn_app(settings, config, env).await;
    Admin {
        dir,
        store: app.store.clone(),
        state: app.state.clone(),
        live: app.state.config.clone(),
        app,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

/// A browser-like client: keeps cookies, sends forms.
pub struct Client {
    state: AppState,
    jar: Vec<(String, String)>,
    /// The address the server sees (as `ConnectInfo`), if any.
    peer: Option<std::net::SocketAddr>,
}

impl Client {
    pub fn new(state: &AppState) -> Self {
        Self {
            state: state.clone(),
            jar: Vec::new(),
            peer: None,
        }
    }

    /// The same browser (its cookies) talking to another machine's app.
    pub fn switch_to(&self, state: &AppState) -> Self {
        Self {
            state: state.clone(),
            jar: self.jar.clone(),
            peer: self.peer,
        }
    }

    /// A client at another address.
    pub fn at(state: &AppState, address: &str) -> Self {
        Self {
            peer: address.parse().ok(),
            ..Self::new(state)
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.jar
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn set(&mut self, name: &str, value: &str) {
        self.jar.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.jar.push((name.into(), value.into()));
        }
    }

    pub async fn send(&mut self, mut req: Request<Body>) -> Reply {
        if let Some(peer) = self.peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        if !self.jar.is_empty() {
            let header: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            req.headers_mut()
                .insert(header::COOKIE, header.join("; ").parse().unwrap());
        }
        let resp = router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for c in reply.cookies() {
            let pair = c.split(';').next().unwrap();
            let (n, v) = pair.split_once('=').unwrap();
            self.set(n, v);
        }
        reply
    }

    pub async fn get(&mut self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn htmx_get(&mut self, uri: &str) -> Reply {
        self.send(
            Request::get(uri)
                .header("hx-request", "true")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn post(&mut self, uri: &str, form: &[(&str, &str)]) -> Reply {
        self.post_with(uri, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        uri: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(
            req.body(Body::from(serde_urlencoded::to_string(form).unwrap()))
                .unwrap(),
        )
        .await
    }

    /// Creates an API token named `name` with `scope` (read or write) in the admin panel: the
    /// page and the token it shows once.
    pub async fn create_api_token(
        &mut self,
        csrf: &str,
        name: &str,
        scope: &str,
    ) -> (Reply, String) {
        let page = self
            .post(
                "/admin/tokens",
                &[("csrf", csrf), ("name", name), ("scope", scope)],
            )
            .await;
        let marker = "id=\"new-token\">";
        let start = page.body.find(marker).unwrap() + marker.len();
        let token = page.body[start..].split('<').next().unwrap().to_owned();
        (page, token)
    }

    /// Logs in; panics unless it worked. Returns the session's CSRF token.
    pub async fn login(&mut self) -> String {
        let page = self.get("/admin/login").await;
        let token = hidden(&page.body, "csrf");
        let r = self
            .post(
                "/admin/login",
                &[
                    ("username", USER),
                    ("password", PASSWORD),
                    ("csrf", &token),
                    ("next", "/admin"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let overview = self.get("/admin").await;
        assert_eq!(overview.status, StatusCode::OK);
        hidden(&overview.body, "csrf")
    }
}

/// A JSON API request carrying `token`.
pub fn bearer(token: &str, method: &str, path: &str, body: &serde_json::Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The value of the first hidden input named `name`.
pub fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_admin_route_and_write_api_refuses_without_a_session_or_token() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    for path in [
        "/admin",
        "/admin/batch/b",
        "/admin/queue/1",
        "/admin/runs",
        "/admin/runs/1",
        "/admin/silences",
        "/admin/config",
        "/admin/tokens",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "GET {path}");
        assert!(
            r.location().starts_with("/admin/login?next="),
            "GET {path}: {}",
            r.location()
        );
        let h = c.htmx_get(path).await;
        assert_eq!(h.status, StatusCode::UNAUTHORIZED, "htmx GET {path}");
        assert!(h.headers.contains_key("hx-redirect"));
    }
    for path in [
        "/admin/logout",
        "/admin/batch/b/run/ingest",
        "/admin/batch/b/schedule/ingest",
        "/admin/summary/run",
        "/admin/silences",
        "/admin/silences/1/expire",
        "/admin/config/reload",
        "/admin/tokens",
        "/admin/tokens/1/revoke",
        "/admin/batch/b/metric/m/feedback/reset",
        "/admin/incidents/1/acknowledge",
        "/admin/incidents/1/resolve",
    ] {
        let r = c
            .post(path, &[("csrf", "x"), ("state", "off"), ("name", "t")])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "POST {path}");
    }
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_queue").await,
        0
    );
    for (method, path) in [
        ("POST", "/api/v1/metrics"),
        ("POST", "/api/v1/batches/b/ingest"),
        ("POST", "/api/v1/batches/b/jobs/ingest"),
        ("POST", "/api/v1/summary/run"),
        ("GET", "/api/v1/queue/1"),
        ("POST", "/api/v1/batches/b/feedback"),
        ("GET", "/api/v1/silences"),
        ("POST", "/api/v1/silences"),
        ("POST", "/api/v1/silences/1/expire"),
        ("POST", "/api/v1/incidents/1/acknowledge"),
        ("POST", "/api/v1/incidents/1/resolve"),
    ] {
        for auth in [None, Some("Bearer ask_0000"), Some("Basic b3BzOnB3")] {
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let r = c.send(req.body(Body::from("{}")).unwrap()).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {auth:?}"
            );
            assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
            assert!(r.body.contains("\"error\""), "{}", r.body);
        }
    }
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_queue").await,
        0
    );
}

#[tokio::test]
async fn without_credentials_the_admin_panel_is_off_and_says_how_to_turn_it_on() {
    let site = admin_site(BATCH).await;
    let state = AppState::new(site.store.clone(), site.live.clone());
    let mut c = Client::new(&state);
    for path in ["/admin", "/admin/login", "/admin/runs"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.body.contains("anomstack hash-password"), "{path}");
        assert!(r.body.contains("ANOMSTACK_ADMIN_PASSWORD_HASH"));
    }
    let r = c
        .post(
            "/admin/login",
            &[("username", "admin"), ("password", ""), ("csrf", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(c.cookie("anomstack_session").is_none());
}

#[tokio::test]
async fn login_needs_csrf_sets_a_strict_cookie_rotates_the_session_and_logout_ends_it() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let page = c.get("/admin/login?next=/admin/runs").await;
    assert_eq!(page.status, StatusCode::OK);
    let token = hidden(&page.body, "csrf");
    assert_eq!(hidden(&page.body, "next"), "/admin/runs");
    // A forged login (no matching CSRF cookie) is refused even with the right password.
    let forged = c
        .post(
            "/admin/login",
            &[("username", USER), ("password", PASSWORD), ("csrf", "f00d")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(c.cookie("anomstack_session").is_none());
    // A session id planted before login (fixation) is not the one you get.
    let planted = "ab".repeat(32);
    c.set("anomstack_session", &planted);
    let ok = c
        .post(
            "/admin/login",
            &[
                ("username", USER),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/admin", "an off-site next is ignored");
    let cookie = ok
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("anomstack_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http on localhost: {cookie}"
    );
    let id = c.cookie("anomstack_session").unwrap();
    assert_ne!(id, planted);
    assert_eq!(id.len(), 64, "256 random bits as hex");
    // The database keeps a digest, never the id.
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM admin_sessions").await,
        1
    );
    assert_eq!(
        count(
            &site.store,
            &format!("SELECT COUNT(*) FROM admin_sessions WHERE id_digest = '{id}'")
        )
        .await,
        0
    );
    let overview = c.get("/admin").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("Signed in as ops"));
    let csrf = hidden(&overview.body, "csrf");

    // Behind HTTPS (Fly's proxy says so) the cookie is Secure.
    let mut https = Client::new(&site.state);
    let p = https.get("/admin/login").await;
    let t = hidden(&p.body, "csrf");
    let r = https
        .post_with(
            "/admin/login",
            &[("username", USER), ("password", PASSWORD), ("csrf", &t)],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("anomstack_session=") && c.contains("; Secure"))
    );

    // Logout needs the session's CSRF token, then the session is gone for good.
    let bad = c.post("/admin/logout", &[("csrf", "nope")]).await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let out = c.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.cookies().iter().any(|c| c.contains("Max-Age=0")));
    let mut replay = Client::new(&site.state);
    replay.set("anomstack_session", &id);
    assert_eq!(replay.get("/admin").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM admin_sessions").await,
        1,
        "only the https client's"
    );
}

#[tokio::test]
async fn expired_sessions_are_refused() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    c.login().await;
    let conn = site.store.connect().await.unwrap();
    conn.execute(
        "UPDATE admin_sessions SET last_seen = '2000-01-01 00:00:00'",
        (),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get("/admin").await.status,
        StatusCode::SEE_OTHER,
        "idle too long"
    );
    let mut c = Client::new(&site.state);
    c.login().await;
    conn.execute(
        "UPDATE admin_sessions SET expires_at = '2000-01-01 00:00:00'",
        (),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get("/admin").await.status,
        StatusCode::SEE_OTHER,
        "past its absolute expiry"
    );
    // A new password ends the sessions opened with the old one.
    let mut c = Client::new(&site.state);
    c.login().await;
    assert_eq!(c.get("/admin").await.status, StatusCode::OK);
    let changed = AdminSettings {
        credentials: Some(AdminCredentials {
            username: USER.into(),
            password_hash: Secret::new(anomstack::password::hash_password("a new one").unwrap()),
        }),
        ..AdminSettings::default()
    };
    c.state = site.state.clone().with_admin(changed);
    assert_eq!(
        c.get("/admin").await.status,
        StatusCode::SEE_OTHER,
        "old password's session"
    );
}

#[tokio::test]
async fn wrong_passwords_are_rejected_alike_then_locked_out() {
    let site = admin_site(BATCH).await;
    let mut c = Client::at(&site.state, "203.0.113.9:5000");
    let token = hidden(&c.get("/admin/login").await.body, "csrf");
    let mut messages = Vec::new();
    for (user, pw) in [
        (USER, "wrong"),
        ("nobody", PASSWORD),
        (USER, ""),
        (USER, "Correct horse battery staple"),
        ("OPS", PASSWORD),
        (USER, "wrong again"),
    ] {
        let r = c
            .post(
                "/admin/login",
                &[("username", user), ("password", pw), ("csrf", &token)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}/{pw}");
        messages.push(r.body.contains("Wrong username or password."));
    }
    assert!(
        messages.iter().all(|m| *m),
        "one generic message for every failure"
    );
    // Locked now, even with the right password.
    let r = c
        .post(
            "/admin/login",
            &[("username", USER), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(c.cookie("anomstack_session").is_none());
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM admin_sessions").await,
        0
    );
    // The guesser's lock is theirs: the admin logs in from elsewhere.
    let mut admin = Client::at(&site.state, "198.51.100.7:6000");
    let token = hidden(&admin.get("/admin/login").await.body, "csrf");
    let r = admin
        .post(
            "/admin/login",
            &[("username", USER), ("password", PASSWORD), ("csrf", &token)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(admin.cookie("anomstack_session").is_some());
}

/// Runs queued jobs with a real worker until `until` holds (at most 60 s).
async fn work_until(site: &Admin, sql: &str, want: i64) {
    let env = Arc::new(worker::WorkerEnv {
        services: site.state.services.clone(),
        config: site.live.clone(),
        worker_id: worker::new_worker_id(),
        kill_after: Duration::from_secs(60),
        stale_after: Duration::from_secs(30),
        held: Default::default(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker::run(env, 2, Duration::from_secs(5), async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&site.store, sql).await < want {
        assert!(Instant::now() < deadline, "timed out waiting for {sql}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    handle.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_button_queues_exactly_one_run_that_finishes_in_history() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let page = c.get("/admin/batch/b").await;
    assert_eq!(page.status, StatusCode::OK);
    for job in [
        "ingest", "train", "score", "alert", "change", "llmalert", "plot", "delete", "pipeline",
    ] {
        assert!(
            page.body
                .contains(&format!("action=\"/admin/batch/b/run/{job}\"")),
            "{job} button"
        );
    }
    // A wrong token queues nothing.
    let forged = c
        .post_with(
            "/admin/batch/b/run/ingest",
            &[],
            &[("hx-request", "true"), ("x-csrf-token", "bad")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_queue").await,
        0
    );
    // Two clicks before a worker takes it: one queued job, shown twice.
    let click = || async {
        let mut c2 = Client {
            state: c.state.clone(),
            jar: c.jar.clone(),
            peer: None,
        };
        c2.post_with(
            "/admin/batch/b/run/ingest",
            &[],
            &[("hx-request", "true"), ("x-csrf-token", &csrf)],
        )
        .await
    };
    let first = click().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(
        first.body.contains("data-status=\"pending\""),
        "{}",
        first.body
    );
    assert!(
        first.body.contains("hx-trigger=\"load delay:1s\""),
        "it polls while not finished"
    );
    let second = click().await;
    assert_eq!(
        hidden_attr(&first.body, "data-queue-id"),
        hidden_attr(&second.body, "data-queue-id")
    );
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_queue").await,
        1
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM job_queue WHERE trigger = 'admin' AND job = 'ingest'"
        )
        .await,
        1
    );
    let id = hidden_attr(&first.body, "data-queue-id");

    work_until(
        &site,
        "SELECT COUNT(*) FROM job_queue WHERE status IN ('done', 'failed')",
        1,
    )
    .await;
    let done = c.htmx_get(&format!("/admin/queue/{id}")).await;
    assert!(done.body.contains("data-status=\"done\""), "{}", done.body);
    assert_eq!(
        done.headers.get("hx-trigger").and_then(|v| v.to_str().ok()),
        Some("anomstack-run-finished"),
        "a finished run tells the page to refresh its run lists"
    );
    assert!(
        done.body
            .contains(&format!("class=\"queue-ref\">queue #{id}<")),
        "queue entries and runs are told apart: {}",
        done.body
    );
    assert!(
        !done.body.contains("hx-trigger"),
        "polling stops once finished"
    );
    assert!(
        done.body.contains("succeeded") && done.body.contains("3 rows"),
        "{}",
        done.body
    );
    assert_eq!(count(&site.store, "SELECT COUNT(*) FROM job_runs").await, 1);
    assert_eq!(count(&site.store, &format!("SELECT COUNT(*) FROM job_runs WHERE queue_id = {id} AND trigger = 'admin' AND status = 'succeeded'")).await, 1);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'metric'"
        )
        .await,
        3
    );

    let runs = c.get("/admin/runs?trigger=admin&job=ingest").await;
    assert!(runs.body.contains("succeeded"), "{}", runs.body);
    let none = c.get("/admin/runs?status=failed").await;
    assert!(none.body.contains("No runs yet."));
    let run_id = count(&site.store, "SELECT MAX(id) FROM job_runs").await;
    let detail = c.get(&format!("/admin/runs/{run_id}")).await;
    assert!(
        detail.body.contains("stored 3 metric rows"),
        "the log: {}",
        detail.body
    );
    assert_eq!(c.get("/admin/runs/999").await.status, StatusCode::NOT_FOUND);

    // The whole pipeline is one queued job with a run per step.
    let p = c
        .post_with(
            "/admin/batch/b/run/pipeline",
            &[("csrf", &csrf)],
            &[("hx-request", "true")],
        )
        .await;
    let pid = hidden_attr(&p.body, "data-queue-id");
    work_until(
        &site,
        &format!(
            "SELECT COUNT(*) FROM job_queue WHERE id = {pid} AND status IN ('done', 'failed')"
        ),
        1,
    )
    .await;
    let steps = count(
        &site.store,
        &format!("SELECT COUNT(*) FROM job_runs WHERE queue_id = {pid}"),
    )
    .await;
    assert_eq!(steps, 5, "ingest, train, score, alert, change");
    // Runs that wrote nothing say why: three points are too few to train on, so nothing is
    // scored either.
    let page = c.get("/admin/batch/b").await;
    assert!(
        page.body.contains("nothing trained: m1: ") && page.body.contains("train_min_n is"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("nothing scored: m1: no model yet (train first)")
    );
    assert!(page.body.contains("id=\"last-train\""));
    assert!(
        page.body
            .contains("hx-trigger=\"anomstack-run-finished from:body\"")
    );
    // The overview has a card per batch with its last run and run buttons.
    let overview = c.get("/admin").await;
    assert!(
        overview
            .body
            .contains("action=\"/admin/batch/b/run/pipeline\"")
    );
    assert!(overview.body.contains("id=\"last-run-0\""));
    assert!(
        overview
            .body
            .contains("class=\"run-ref\" href=\"/admin/runs/")
    );
    let runs = count(&site.store, "SELECT COUNT(*) FROM job_runs").await;
    assert!(
        overview
            .body
            .contains(&format!("None in the last {runs} run(s).")),
        "{}",
        overview.body
    );
    // Unknown batches and jobs are 404s and queue nothing.
    let before = count(&site.store, "SELECT COUNT(*) FROM job_queue").await;
    assert_eq!(
        c.post("/admin/batch/b/run/rm%20-rf", &[("csrf", &csrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.post("/admin/batch/..%2F..%2Fetc/run/ingest", &[("csrf", &csrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_queue").await,
        before
    );
}

fn hidden_attr(html: &str, attr: &str) -> String {
    let needle = format!("{attr}=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {attr} in {html}"))
        + needle.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn schedules_switch_persist_and_return_to_the_default() {
    let site = admin_site(&format!("{BATCH}ingest_default_schedule_status: RUNNING\n")).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let r = c
        .post(
            "/admin/batch/b/schedule/ingest",
            &[("csrf", &csrf), ("state", "off")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let overrides = site.store.schedule_overrides().await.unwrap();
    assert_eq!(
        overrides.get(&("b".to_owned(), "ingest".to_owned())),
        Some(&false)
    );
    let page = c.get(r.location()).await;
    assert!(page.body.contains("The ingest schedule is off."));
    assert!(page.body.contains("(set here)"));
    // The scheduler reads the same table: the ingest entry is now off.
    let entries = anomstack::queue::scheduler::entries(&site.live.current());
    let ingest = entries
        .iter()
        .find(|e| e.batch == "b" && e.job.as_str() == "ingest")
        .unwrap();
    assert!(!ingest.is_on(&overrides));
    c.post(
        "/admin/batch/b/schedule/train",
        &[("csrf", &csrf), ("state", "on")],
    )
    .await;
    let overrides = site.store.schedule_overrides().await.unwrap();
    let train = entries
        .iter()
        .find(|e| e.batch == "b" && e.job.as_str() == "train")
        .unwrap();
    assert!(train.is_on(&overrides), "a STOPPED default can be started");
    c.post(
        "/admin/batch/b/schedule/ingest",
        &[("csrf", &csrf), ("state", "default")],
    )
    .await;
    assert!(ingest.is_on(&site.store.schedule_overrides().await.unwrap()));
    let bad = c
        .post(
            "/admin/batch/b/schedule/ingest",
            &[("csrf", &csrf), ("state", "maybe")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn silences_are_validated_created_listed_and_ended() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let empty = c
        .post("/admin/silences", &[("csrf", &csrf), ("duration", "1h")])
        .await;
    let page = c.get(empty.location()).await;
    assert!(
        page.body.contains("at least one of batch, metric or tag"),
        "{}",
        page.body
    );
    let unknown = c
        .post(
            "/admin/silences",
            &[("csrf", &csrf), ("batch", "nope"), ("duration", "1h")],
        )
        .await;
    assert!(
        c.get(unknown.location())
            .await
            .body
            .contains("no batch named")
    );
    let r = c
        .post(
            "/admin/silences",
            &[
                ("csrf", &csrf),
                ("batch", "b"),
                ("metric", "m*"),
                ("tag", "priority=p3"),
                ("duration", "4h"),
                ("comment", "<b>maintenance</b>"),
            ],
        )
        .await;
    let page = c.get(r.location()).await;
    assert!(page.body.contains("Silence #1 created"), "{}", page.body);
    assert!(
        page.body.contains("&lt;b&gt;maintenance&lt;/b&gt;"),
        "comments are escaped"
    );
    let now = chrono::Utc::now().naive_utc();
    let active = site.store.silences(now, false).await.unwrap();
    assert_eq!(active.len(), 1);
    let s = &active[0];
    assert_eq!(
        (
            s.batch.as_str(),
            s.metric.as_str(),
            s.tag_key.as_str(),
            s.tag_value.as_str(),
            s.created_by.as_str()
        ),
        ("b", "m*", "priority", "p3", USER)
    );
    let hours = (s.ends_at - s.starts_at).num_minutes();
    assert_eq!(hours, 240);
    let tags = [("priority".to_owned(), "p3".to_owned())].into();
    assert!(anomstack::notify::silence::silencing(&active, "b", "m2", &tags, now).is_some());
    let r = c.post("/admin/silences/1/expire", &[("csrf", &csrf)]).await;
    assert!(c.get(r.location()).await.body.contains("Silence #1 ended."));
    assert!(
        site.store
            .silences(chrono::Utc::now().naive_utc(), false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.post("/admin/silences/1/expire", &[("csrf", &csrf)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_config_page_masks_secrets_and_a_bad_reload_is_shown_not_applied() {
    let site = admin_site(&format!(
        "{BATCH}metric_tags:\n  m1:\n    runbook: https://bot:hunter2@wiki.example/m1\n"
    ))
    .await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let page = c.get("/admin/config?batch=b").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("metric_batch: b"), "{}", page.body);
    assert!(page.body.contains("ANOMSTACK_SLACK_TOKEN"));
    for secret in ["xoxb-very-secret", "hunter2", "$argon2"] {
        assert!(!page.body.contains(secret), "{secret} shown");
    }
    assert!(page.body.contains("********"));
    // A broken file: its errors shown, the other batches still live, the broken one not.
    site.dir.write(
        "broken.yaml",
        "metric_batch: broken\ningest_sql: [unclosed\n",
    );
    let r = c.post("/admin/config/reload", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("broken.yaml"), "{}", r.body);
    assert!(r.body.contains("1 batch(es) are live"), "{}", r.body);
    assert!(site.live.current().batch("broken").is_none());
    assert!(site.live.current().batch("b").is_some());
    let overview = c.get("/admin").await;
    assert!(
        overview.body.contains("invalid-batches"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("broken.yaml"));
    // The public page names the batch, not its problem.
    let home = c.get("/").await;
    assert!(home.body.contains("invalid-batches"), "{}", home.body);
    assert!(home.body.contains("broken"));
    assert!(!home.body.contains("broken.yaml"));
    std::fs::remove_file(site.dir.path().join("broken.yaml")).unwrap();
    site.dir
        .write("c.yaml", "metric_batch: c\ningest_sql: SELECT 1\n");
    let r = c.post("/admin/config/reload", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("Reloaded: 2 batch(es) are live."),
        "{}",
        r.body
    );
    assert!(site.live.current().batch("c").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_authorize_writes_until_revoked() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let (page, token) = c.create_api_token(&csrf, "airflow", "write").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(token.starts_with("ask_") && token.len() == 68, "{token}");
    assert_eq!(
        page.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "the one-time token stays out of caches"
    );
    assert_eq!(
        count(
            &site.store,
            &format!(
                "SELECT COUNT(*) FROM api_tokens WHERE digest = '{token}' OR prefix = '{token}'"
            )
        )
        .await,
        0
    );
    assert!(
        !c.get("/admin/tokens").await.body.contains(&token),
        "shown once only"
    );

    let api =
        |method: &str, path: &str, body: serde_json::Value| bearer(&token, method, path, &body);
    let mut anon = Client::new(&site.state);
    // Push rows: good ones stored, bad ones rejected by row number.
    let r = anon
        .send(api("POST", "/api/v1/batches/b/ingest", serde_json::json!({"rows": [
            {"metric_name": "pushed", "metric_value": 2.5, "metric_timestamp": "2026-01-01T00:00:00Z"},
            {"metric_name": "pushed", "metric_value": "abc", "metric_timestamp": "2026-01-01T00:05:00Z"},
            {"metric_name": "", "metric_value": 1}
        ]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["rows_written"], 1);
    assert_eq!(v["rows_rejected"], 2);
    assert_eq!(v["rejected"][0]["row"], 2);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_name = 'pushed'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM job_runs WHERE trigger = 'api' AND job = 'ingest'"
        )
        .await,
        1
    );
    let bad = anon
        .send(api(
            "POST",
            "/api/v1/batches/b/ingest",
            serde_json::json!({"nope": 1}),
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let missing = anon
        .send(api(
            "POST",
            "/api/v1/batches/zz/ingest",
            serde_json::json!({"rows": []}),
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The batch-less route: each row names its batch; an unknown batch stores nothing.
    let r = anon
        .send(api("POST", "/api/v1/metrics", serde_json::json!({"rows": [
            {"metric_batch": "b", "metric_name": "pushed2", "metric_value": 1, "metric_timestamp": "2026-01-01T00:00:00Z"},
            {"metric_batch": "zz", "metric_name": "pushed2", "metric_value": 1}
        ]})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.body.contains("zz"), "{}", r.body);
    let r = anon
        .send(api(
            "POST",
            "/api/v1/metrics",
            serde_json::json!({"rows": [
                {"metric_name": "pushed2", "metric_value": 1}
            ]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("row 1: no metric_batch"), "{}", r.body);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_name = 'pushed2'"
        )
        .await,
        0
    );
    let r = anon
        .send(api("POST", "/api/v1/metrics", serde_json::json!({"rows": [
            {"metric_batch": "b", "metric_name": "pushed2", "metric_value": 1, "metric_timestamp": "2026-01-01T00:00:00Z"},
            {"metric_batch": "b", "metric_name": "pushed2", "metric_value": "x", "metric_timestamp": "2026-01-01T00:05:00Z"}
        ]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["batches"][0]["batch"], "b");
    assert_eq!(v["batches"][0]["rows_written"], 1);
    assert_eq!(v["batches"][0]["rows_rejected"], 1);

    // A huge finite value is stored (rounding must not overflow it), beside its good row.
    let r = anon
        .send(api("POST", "/api/v1/metrics", serde_json::json!({"rows": [
            {"metric_batch": "b", "metric_name": "huge", "metric_value": 1.0, "metric_timestamp": "2026-01-01T00:00:00Z"},
            {"metric_batch": "b", "metric_name": "huge", "metric_value": 1e305, "metric_timestamp": "2026-01-01T00:05:00Z"}
        ]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_name = 'huge'"
        )
        .await,
        2
    );
    // The documented row limit fits the body limit; one row more is refused as too large.
    let rows = |n: usize| {
        let rows: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"metric_name": format!("bulk_{}", i % 50), "metric_value": i, "metric_timestamp": format!("2025-01-01 00:00:00+{:02}:{:02}", (i / 1000) % 14, (i / 60) % 60)}))
            .collect();
        serde_json::json!({ "rows": rows })
    };
    let r = anon
        .send(api("POST", "/api/v1/batches/b/ingest", rows(50_000)))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        &r.body[..r.body.len().min(300)]
    );
    let r = anon
        .send(api("POST", "/api/v1/batches/b/ingest", rows(50_001)))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("more rows than the 50000"), "{}", r.body);
    // A value that is a list or a map is skipped while parsing (no million-value bodies) and
    // its row rejected.
    let r = anon
        .send(api(
            "POST",
            "/api/v1/batches/b/ingest",
            serde_json::json!({"rows": [
                {"metric_name": "x", "metric_value": [[1, 2], [3]]},
                {"metric_name": "x", "metric_value": 1, "metric_timestamp": "2026-01-02 00:00:00"}
            ]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["rows_written"].as_i64(), v["rows_rejected"].as_i64()),
        (Some(1), Some(1))
    );
    let huge_body = format!("{{\"rows\": [{}]}}", "1,".repeat(17_000_000));
    let r = anon
        .send(
            Request::post("/api/v1/batches/b/ingest")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(huge_body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("over 32 MiB"),
        "{v}"
    );

    // Run a job and follow it.
    let r = anon
        .send(api(
            "POST",
            "/api/v1/batches/b/jobs/ingest",
            serde_json::json!({}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let id = v["id"].as_i64().unwrap();
    work_until(
        &site,
        "SELECT COUNT(*) FROM job_queue WHERE status = 'done'",
        1,
    )
    .await;
    let status = anon
        .send(api(
            "GET",
            &format!("/api/v1/queue/{id}"),
            serde_json::json!({}),
        ))
        .await;
    let v: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(v["status"], "done");
    assert_eq!(v["runs"][0]["status"], "succeeded");
    assert_eq!(
        anon.send(api(
            "POST",
            "/api/v1/batches/b/jobs/nope",
            serde_json::json!({})
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Silences.
    let r = anon
        .send(api(
            "POST",
            "/api/v1/silences",
            serde_json::json!({"batch": "b", "duration": "2h", "comment": "deploy"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["created_by"], "token:airflow");
    let list = anon
        .send(api("GET", "/api/v1/silences", serde_json::json!({})))
        .await;
    assert!(list.body.contains("deploy"));
    let bad = anon
        .send(api(
            "POST",
            "/api/v1/silences",
            serde_json::json!({"duration": "forever", "batch": "b"}),
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let sid = v["id"].as_i64().unwrap();
    let r = anon
        .send(api(
            "POST",
            &format!("/api/v1/silences/{sid}/expire"),
            serde_json::json!({}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Feedback needs an anomaly.
    let r = anon
        .send(api("POST", "/api/v1/batches/b/feedback", serde_json::json!({"metric": "pushed", "timestamp": "2026-01-01 00:00:00", "verdict": "up"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Revoked: refused.
    let tid = count(&site.store, "SELECT MAX(id) FROM api_tokens").await;
    let r = c
        .post(&format!("/admin/tokens/{tid}/revoke"), &[("csrf", &csrf)])
        .await;
    assert!(r.body.contains("Token revoked."));
    let r = anon
        .send(api(
            "POST",
            "/api/v1/batches/b/jobs/train",
            serde_json::json!({}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_is_refused_on_write_endpoints_but_may_read() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    let (page, token) = c.create_api_token(&csrf, "assistant", "read").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("(read) created"), "{}", page.body);
    let listed = c.get("/admin/tokens").await.body;
    assert!(listed.contains("<td>read</td>"), "{listed}");
    let api =
        |method: &str, path: &str, body: serde_json::Value| bearer(&token, method, path, &body);
    let mut anon = Client::new(&site.state);
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/batches/b/jobs/train",
            serde_json::json!({}),
        ),
        (
            "POST",
            "/api/v1/silences",
            serde_json::json!({"batch": "b", "duration": "2h"}),
        ),
        (
            "POST",
            "/api/v1/batches/b/ingest",
            serde_json::json!({"rows": []}),
        ),
    ] {
        let r = anon.send(api(method, path, body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("write scope"),
            "{}",
            r.body
        );
    }
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM silences").await,
        0,
        "nothing was written"
    );
    // Reading is allowed.
    let r = anon
        .send(api("GET", "/api/v1/silences", serde_json::json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn an_admin_session_may_give_feedback_when_the_public_may_not() {
    let site = crate::dashboard::site(false).await;
    let state = site.state.clone().with_admin(admin_settings());
    let mut anon = Client::new(&state);
    let list = anon.get("/batch/web/anomalies").await;
    assert!(
        list.body.contains("disabled"),
        "buttons are off for visitors"
    );
    let csrf = hidden(&list.body, "csrf");
    let metric = hidden(&list.body, "metric");
    let ts = hidden(&list.body, "ts");
    let form = [
        ("metric", metric.as_str()),
        ("ts", ts.as_str()),
        ("verdict", "up"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        anon.post("/batch/web/feedback", &form).await.status,
        StatusCode::FORBIDDEN
    );
    let mut admin = Client {
        state: state.clone(),
        jar: anon.jar.clone(),
        peer: None,
    };
    admin.login().await;
    let list = admin.get("/batch/web/anomalies").await;
    let csrf = hidden(&list.body, "csrf");
    let form = [
        ("metric", metric.as_str()),
        ("ts", ts.as_str()),
        ("verdict", "up"),
        ("csrf", csrf.as_str()),
    ];
    let r = admin.post("/batch/web/feedback", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'thumbsup'"
        )
        .await,
        1
    );
}

/// The metric page says what feedback taught the metric; an admin (and only an admin, with
/// the form's CSRF token) can make it forget.
#[tokio::test]
async fn the_metric_page_shows_what_feedback_taught_and_an_admin_can_reset_it() {
    let site = crate::dashboard::site(false).await;
    let state = site.state.clone().with_admin(admin_settings());
    let mut admin = Client::new(&state);
    admin.login().await;
    let list = admin.get("/batch/web/anomalies").await;
    let (csrf, metric, ts) = (
        hidden(&list.body, "csrf"),
        hidden(&list.body, "metric"),
        hidden(&list.body, "ts"),
    );
    let page = format!("/batch/web/metric/{metric}");
    assert!(
        admin
            .get(&page)
            .await
            .body
            .contains("No feedback teaches this metric yet")
    );
    let form = [
        ("metric", metric.as_str()),
        ("ts", ts.as_str()),
        ("verdict", "down"),
        ("csrf", csrf.as_str()),
    ];
    assert_eq!(
        admin.post("/batch/web/feedback", &form).await.status,
        StatusCode::SEE_OTHER
    );
    // The score job notes the level of points that may alert.
    site.store
        .execute(
            &format!(
                "UPDATE metrics SET metadata = '{{\"level\":3.0}}' WHERE metric_type = 'score'
                 AND metric_name = '{metric}' AND metric_timestamp = '{ts}'"
            ),
            "test",
        )
        .await
        .unwrap();
    let shown = admin.get(&page).await;
    assert!(
        shown.body.contains("1 alert marked not useful, 0 useful."),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("or below are muted now"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Forget this feedback"));
    let reset = format!("/admin/batch/web/metric/{metric}/feedback/reset");
    // Visitors see the lesson, not the button; a post without the session's token is refused.
    let mut visitor = Client::new(&state);
    let seen = visitor.get(&page).await;
    assert!(
        seen.body.contains("1 alert marked not useful")
            && !seen.body.contains("Forget this feedback")
    );
    assert_eq!(
        admin.post(&reset, &[("csrf", "forged")]).await.status,
        StatusCode::FORBIDDEN
    );
    let session_csrf = hidden(&shown.body, "csrf");
    let r = admin.post(&reset, &[("csrf", session_csrf.as_str())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), page);
    let after = admin.get(&page).await;
    assert!(
        after.body.contains("No feedback teaches this metric yet"),
        "{}",
        after.body
    );
    assert!(
        after.body.contains("was forgotten (reset by"),
        "{}",
        after.body
    );
    assert_eq!(shown.headers.get("cache-control").unwrap(), "no-store");
    assert!(
        site.store
            .verdicts("metrics", "web", None)
            .await
            .unwrap()
            .is_empty(),
        "the alert job no longer learns from it"
    );
    // The verdict itself is still stored and shown.
    assert_eq!(
        count(
            &site.store,
            "SELECT COUNT(*) FROM metrics WHERE metric_type = 'thumbsdown'"
        )
        .await,
        1
    );
}

/// The real binary with the password in its environment and debug logging: it must not
/// appear in the log, in any page, in `/metrics` or in the config page.
#[test]
fn the_admin_password_never_reaches_logs_pages_or_metrics() {
    let secret = "Zebra-Quokka-4417-unique";
    let dir = MetricsDir::new();
    dir.write("b.yaml", BATCH);
    let mut child = Command::new(env!("CARGO_BIN_EXE_anomstack"))
        .current_dir(dir.tmp.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .env("ANOMSTACK_PORT", "0")
        .env("ANOMSTACK_HOST", "127.0.0.1")
        .env("ANOMSTACK_METRICS_DIR", dir.path())
        .env("ANOMSTACK_SQLITE_PATH", dir.tmp.path().join("app.db"))
        .env("ANOMSTACK_ADMIN_USERNAME", USER)
        .env("ANOMSTACK_ADMIN_PASSWORD", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn anomstack");
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        assert!(
            Instant::now() < deadline,
            "no listening line:\n{}",
            log.join("\n")
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(i) = line.find("listening on http://") {
                let url = line[i + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('"')
                    .to_owned();
                log.push(line);
                break url;
            }
            log.push(line);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pages = rt.block_on(async {
        anomstack::notify::tls_ready();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut bodies = Vec::new();
        let login = http
            .get(format!("{base}/admin/login"))
            .send()
            .await
            .unwrap();
        let csrf_cookie = login
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body = login.text().await.unwrap();
        let token = hidden(&body, "csrf");
        for pw in ["wrong-guess", secret] {
            let r = http
                .post(format!("{base}/admin/login"))
                .header("cookie", &csrf_cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    serde_urlencoded::to_string([
                        ("username", USER),
                        ("password", pw),
                        ("csrf", &token),
                    ])
                    .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let session = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .find(|c| c.starts_with("anomstack_session="));
            bodies.push(r.text().await.unwrap());
            if let Some(session) = session {
                for path in [
                    "/admin",
                    "/admin/config?batch=b",
                    "/admin/runs",
                    "/admin/tokens",
                    "/metrics",
                    "/",
                    "/api/v1/openapi.json",
                ] {
                    let r = http
                        .get(format!("{base}{path}"))
                        .header("cookie", format!("{csrf_cookie}; {session}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{path}");
                    bodies.push(r.text().await.unwrap());
                }
            }
        }
        bodies
    });
    assert!(
        pages.iter().any(|p| p.contains("Signed in as ops")),
        "the right password logged in"
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(log.contains("admin login failed"), "{log}");
    assert!(log.contains("admin logged in"), "{log}");
    assert!(!log.contains(secret), "the password is in the log:\n{log}");
    assert!(
        !log.contains("wrong-guess"),
        "a typed password is in the log"
    );
    for p in &pages {
        assert!(!p.contains(secret), "the password is in a page");
        assert!(!p.contains("$argon2"), "the hash is in a page");
    }
}

#[tokio::test]
async fn hostile_input_is_inert_in_filters_names_and_forms() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    let csrf = c.login().await;
    // SQL in every run filter: parameters, so nothing happens and nothing matches.
    let r = c
        .get("/admin/runs?batch=b%27%3B%20DROP%20TABLE%20job_runs%3B--&job=%3Cscript%3E&trigger=%27%20OR%201%3D1--&status=x")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("<script>"));
    assert_eq!(
        count(&site.store, "SELECT COUNT(*) FROM job_runs").await,
        0,
        "the table is still there"
    );
    // Markup in a token name and a silence comment is escaped.
    let page = c
        .post(
            "/admin/tokens",
            &[("csrf", &csrf), ("name", "<img src=x onerror=alert(1)>")],
        )
        .await;
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.body.contains("<img src=x"));
    // A path-traversal batch name is just an unknown batch.
    for path in [
        "/admin/batch/..%2F..%2Fetc%2Fpasswd",
        "/admin/batch/%2e%2e",
        "/admin/config?batch=../../etc/passwd",
    ] {
        let r = c.get(path).await;
        assert!(!r.body.contains("root:"), "{path}");
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::OK,
            "{path}: {}",
            r.status
        );
    }
    // The login page's `next` cannot point off-site, and is escaped where shown.
    let mut anon = Client::new(&site.state);
    let login = anon
        .get("/admin/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert!(!login.body.contains("<script>alert(1)"));
    assert_eq!(hidden(&login.body, "next"), "/admin");
}

#[tokio::test]
async fn a_batch_page_says_what_this_environment_lacks_for_the_batch() {
    let site = admin_site("metric_batch: b\ndb: snowflake\ningest_sql: SELECT 1\n").await;
    let mut c = Client::new(&site.state);
    c.login().await;
    let page = c.get("/admin/batch/b").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("batch-warnings"), "{}", page.body);
    assert!(
        page.body.contains("set ANOMSTACK_SNOWFLAKE_ACCOUNT"),
        "{}",
        page.body
    );
}

/// Every answer carries the security headers (a CSP without inline script, nosniff, no
/// referrer to other sites, no framing by others); the admin area checks the session before
/// reading anything of the request; the CSRF cookie is `Secure` whenever the session's is.
#[tokio::test]
async fn responses_carry_security_headers_and_admin_checks_the_session_first() {
    let site = admin_site(BATCH).await;
    let mut c = Client::new(&site.state);
    for path in [
        "/",
        "/batch/b",
        "/admin/login",
        "/api/v1/openapi.json",
        "/nowhere",
        "/assets/app.js",
    ] {
        let r = c.get(path).await;
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self';")
                && csp.contains("frame-ancestors 'self'")
                && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
    }
    // No inline script or handlers left for the CSP to block.
    let page = c.get("/batch/b").await.body;
    assert!(!page.contains("onchange=") && !page.contains("hx-on") && !page.contains("<script>"));

    // Without a session, a malformed id is a login redirect, not a 400 that reveals routes.
    let r = Client::new(&site.state).get("/admin/queue/abc").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok());
    assert_eq!(location, Some("/admin/login?next=%2Fadmin%2Fqueue%2Fabc"));
    let r = Client::new(&site.state)
        .post("/admin/batch/b/run/nope", &[("csrf", "x")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = Client::new(&site.state)
        .get("/admin/runs/not-a-number")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // The CSRF cookie is Secure over HTTPS, as the session cookie is.
    let mut https = Client::new(&site.state);
    let r = https
        .send(
            Request::get("/admin/login")
                .header("x-forwarded-proto", "https")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("anomstack_csrf=") && c.ends_with("; Secure")),
        "{:?}",
        r.cookies()
    );
    // And when configured so, whatever the request says.
    let mut settings = admin_settings();
    settings.cookie_secure = Some(true);
    let state = site.state.clone().with_admin(settings);
    let r = Client::new(&state).get("/admin/login").await;
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("anomstack_csrf=") && c.ends_with("; Secure")),
        "{:?}",
        r.cookies()
    );
}

/// A flood of failed logins from many addresses pauses browsers that never logged in, while
/// the admin's browser (its device cookie, kept in the database) logs in from a new address.
#[tokio::test]
async fn a_flood_from_many_addresses_spares_a_browser_that_logged_in_before() {
    let site = admin_site(BATCH).await;
    let mut admin = Client::at(&site.state, "198.51.100.7:6000");
    admin.login().await;
    assert!(admin.cookie("anomstack_device").is_some());
    let now = chrono::Utc::now();
    for i in 0..anomstack::web::admin::login_limit::GLOBAL_FAILURES_PER_MINUTE {
        site.state
            .admin
            .limiter
            .fail(&format!("203.0.{}.{}", i / 200, i % 200), USER, now);
    }
    let try_login = |c: &mut Client| {
        let mut c = Client {
            state: c.state.clone(),
            jar: c.jar.clone(),
            peer: "192.0.2.55:7000".parse().ok(),
        };
        async move {
            let token = hidden(&c.get("/admin/login").await.body, "csrf");
            c.post(
                "/admin/login",
                &[("username", USER), ("password", PASSWORD), ("csrf", &token)],
            )
            .await
            .status
        }
    };
    let mut stranger = Client::new(&site.state);
    assert_eq!(
        try_login(&mut stranger).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The same browser, now at another address.
    admin.jar.retain(|(n, _)| n != "anomstack_session");
    assert_eq!(try_login(&mut admin).await, StatusCode::SEE_OTHER);
}

/// Two machines, each on its own embedded replica of one libSQL server (what Turso runs),
/// neither syncing by itself during the test, as requests of one browser land on either: a
/// login on one is a session on the other, a logout on one ends it on both at once, an API
/// token made on one works on the other, and a silence and a schedule switch made on one are
/// there on the other after its next sync.
#[tokio::test(flavor = "multi_thread")]
async fn admin_actions_on_one_machine_count_on_the_others() {
    use crate::store_remote::replica;
    let server = crate::support::sqld::Sqld::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let no_sync = [("ANOMSTACK_TURSO_SYNC_SECONDS", "3600")];
    let a = admin_app_on(
        BATCH,
        &no_sync,
        Some(replica(&server, "", tmp.path().join("a.db"))),
    )
    .await;
    let b = admin_app_on(
        BATCH,
        &no_sync,
        Some(replica(&server, "", tmp.path().join("b.db"))),
    )
    .await;

    let mut on_a = Client::new(&a.state);
    let csrf = on_a.login().await;
    let mut on_b = on_a.switch_to(&b.state);
    let overview = on_b.get("/admin").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(overview.body.contains("Signed in as ops"));

    let (_, token) = on_a.create_api_token(&csrf, "ci", "write").await;
    let pushed = Client::new(&b.state)
        .send(
            Request::post("/api/v1/batches/b/ingest")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"rows": [{"metric_name": "pushed", "metric_value": 1, "metric_timestamp": "2026-01-01T00:00:00Z"}]}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.body);

    let silenced = on_a
        .post(
            "/admin/silences",
            &[
                ("csrf", &csrf),
                ("batch", "b"),
                ("metric", "m1"),
                ("duration", "1h"),
                ("comment", "maintenance on m1"),
            ],
        )
        .await;
    assert!(silenced.status.is_redirection() || silenced.status.is_success());
    let switched = on_a
        .post(
            "/admin/batch/b/schedule/ingest",
            &[("csrf", &csrf), ("state", "off")],
        )
        .await;
    assert!(switched.status.is_redirection() || switched.status.is_success());
    b.store.sync().await.unwrap();
    assert!(
        on_b.get("/admin/silences")
            .await
            .body
            .contains("maintenance on m1")
    );
    assert_eq!(
        b.store
            .schedule_overrides()
            .await
            .unwrap()
            .get(&("b".to_owned(), "ingest".to_owned())),
        Some(&false)
    );

    let out = on_a.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert!(out.status.is_redirection(), "{}", out.status);
    let after = on_b.get("/admin").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "logged out everywhere");
    assert!(after.location().starts_with("/admin/login"));
}

#[tokio::test]
async fn an_incident_is_shown_first_and_moved_by_an_admin_or_a_token_with_who_and_when() {
    use anomstack::incident::{Recovery, State};
    use anomstack::store::NewMember;

    let site = admin_site(BATCH).await;
    let now = chrono::Utc::now().naive_utc();
    let member = |metric: &str| NewMember {
        batch: "b".into(),
        metric: metric.into(),
        kind: "anomaly".into(),
        tags: Default::default(),
        at: now,
        recovery: Recovery::Notice,
    };
    let id = site
        .store
        .open_incident(
            "🔥 [m1] looks anomalous",
            "<i@anomstack>",
            &member("m1"),
            now,
        )
        .await
        .unwrap();
    site.store
        .join_incident(id, &member("m2"), now)
        .await
        .unwrap();

    let mut visitor = Client::new(&site.state);
    let home = visitor.get("/").await;
    let (open, attention) = (
        home.body.find("Open incidents").unwrap(),
        home.body.find("Needs attention").unwrap(),
    );
    assert!(open < attention, "open incidents come first");
    assert!(home.body.contains(&format!("href=\"/incidents/{id}\"")));
    let page = visitor.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("m1") && page.body.contains("m2"));
    assert!(page.body.contains("opened the incident"), "the timeline");
    assert!(
        !page.body.contains("/acknowledge"),
        "a visitor gets no buttons"
    );
    assert_eq!(
        visitor.get("/incidents/999").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(visitor.get("/incidents").await.status, StatusCode::OK);

    let mut admin = Client::new(&site.state);
    let csrf = admin.login().await;
    let page = admin.get(&format!("/incidents/{id}")).await;
    let ack = format!("/admin/incidents/{id}/acknowledge");
    assert!(page.body.contains(&ack), "{}", page.body);
    assert_eq!(
        admin.post(&ack, &[("csrf", "forged")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        site.store.incident(id).await.unwrap().unwrap().state,
        State::Open
    );
    let r = admin.post(&ack, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let acked = site.store.incident(id).await.unwrap().unwrap();
    assert_eq!(acked.state, State::Acknowledged);
    assert_eq!(acked.acknowledged.as_ref().unwrap().1, USER);
    let page = admin.get(&format!("/incidents/{id}")).await;
    assert!(
        page.body
            .contains(&format!("acknowledged by <strong>{USER}</strong>"))
    );

    // A script resolves it with an API token.
    let (_, viewer) = admin.create_api_token(&csrf, "viewer", "read").await;
    let (_, token) = admin.create_api_token(&csrf, "pager", "write").await;
    let call_as = |token: &str, method: &str, path: String| {
        bearer(token, method, &path, &serde_json::json!({}))
    };
    let read_only = visitor
        .send(call_as(
            &viewer,
            "POST",
            format!("/api/v1/incidents/{id}/resolve"),
        ))
        .await;
    assert_eq!(
        read_only.status,
        StatusCode::FORBIDDEN,
        "{}",
        read_only.body
    );
    let call = |method: &str, path: String| call_as(&token, method, path);
    let r = visitor
        .send(call("POST", format!("/api/v1/incidents/{id}/resolve")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["state"], "resolved");
    assert_eq!(v["changed"], true);
    assert_eq!(v["resolved"]["by"], "API token “pager”");
    let again = visitor
        .send(call("POST", format!("/api/v1/incidents/{id}/acknowledge")))
        .await;
    let v: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["changed"].as_bool()),
        (Some("resolved"), Some(false))
    );
    let missing = visitor
        .send(call("POST", "/api/v1/incidents/999/resolve".into()))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let listed = visitor.get("/api/v1/incidents").await;
    let v: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(v[0]["id"], id);
    assert_eq!(v[0]["metrics"].as_array().unwrap().len(), 2);
    let one = visitor.get(&format!("/api/v1/incidents/{id}")).await;
    let v: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    let events: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["opened", "joined", "acknowledged", "resolved"]);
    assert!(
        !visitor.get("/").await.body.contains("Open incidents"),
        "a resolved incident leaves the home page"
    );
}
