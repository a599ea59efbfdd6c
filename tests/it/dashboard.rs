//! The public dashboard on a seeded database, through the router: every page and partial,
//! friendly 404s, hostile metric names, bad searches and windows, and feedback (CSRF, undo,
//! idempotence, rate limit).

use anomstack::config::DatabaseLocation;
use anomstack::store::{MetricRow, MetricType, StateChange, Store};
use anomstack::web::{AppState, router};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, NaiveDateTime, Utc};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::store_local::count;
use crate::support::MetricsDir;
use crate::support::app::{QUIET, TestApp, spawn_app};

const HOSTILE: [&str; 3] = [
    "<script>alert(1)</script>",
    "quote's \"double\"",
    "ünïcødé 📈 metric",
];

fn long_name() -> String {
    "x".repeat(300)
}

pub struct Site {
    pub app: TestApp,
    _dir: MetricsDir,
    pub store: Store,
    pub state: AppState,
    /// Newest timestamp written.
    end: NaiveDateTime,
}

fn minute(t: NaiveDateTime) -> NaiveDateTime {
    t - Duration::seconds(t.and_utc().timestamp() % 60)
}

/// Batches `web` (100 points for each of 15 metrics; 5 anomalies: `spiky` has 3, one of them
/// flagged by ML and a threshold, `m03`'s newest point is one, and a hostile name has a
/// change) and `empty`, and a batch hidden from the dashboard.
pub async fn site(public_feedback: bool) -> Site {
    site_at(public_feedback, |dir| DatabaseLocation::Local {
        path: dir.tmp.path().join("app.db"),
    })
    .await
}

/// [`site`] with its database at `location`.
pub async fn site_at(
    public_feedback: bool,
    location: impl Fn(&MetricsDir) -> DatabaseLocation,
) -> Site {
    let dir = MetricsDir::new();
    dir.write("web.yaml", "metric_batch: web\ningest_sql: SELECT 1\n");
    dir.write("empty.yaml", "metric_batch: empty\ningest_sql: SELECT 1\n");
    dir.write(
        "hidden.yaml",
        "metric_batch: hidden\ningest_sql: SELECT 1\ndisable_dashboard: true\n",
    );
    let config = dir.load_ok(&[]);
    let store = Store::open(&location(&dir)).await.unwrap();
    let end = minute(Utc::now().naive_utc());
    let mut names: Vec<String> = (0..10).map(|i| format!("m{i:02}")).collect();
    names.extend(HOSTILE.iter().map(|s| s.to_string()));
    names.push(long_name());
    names.push("spiky".into());
    let mut rows = Vec::new();
    for name in &names {
        for i in 0..100i64 {
            let ts = end - Duration::minutes(5 * (99 - i));
            let row = |t: MetricType, v: f64, meta: &str| MetricRow {
                timestamp: ts,
                batch: "web".into(),
                name: name.clone(),
                metric_type: t,
                value: v,
                metadata: meta.into(),
            };
            rows.push(row(MetricType::Metric, 10.0 + (i % 7) as f64, ""));
            rows.push(row(MetricType::Score, if i == 90 { 0.99 } else { 0.1 }, ""));
            if name == "spiky" && (i == 90 || i == 95) {
                rows.push(row(MetricType::Alert, 1.0, ""));
            }
            // Flagged twice: one anomaly of two kinds.
            if name == "spiky" && i == 95 {
                rows.push(row(
                    MetricType::TholdAlert,
                    1.0,
                    r#"{"breached_threshold_type": "upper", "breached_threshold_value": 15, "metric_value_at_breach": 16}"#,
                ));
            }
            // Anomalous now: its newest point is flagged.
            if name == "m03" && i == 99 {
                rows.push(row(MetricType::TholdAlert, 1.0, ""));
            }
            if name == "spiky" && i == 96 {
                rows.push(row(
                    MetricType::LlmAlert,
                    1.0,
                    r#"{"anomaly_explanation": "a <b>sudden</b> jump"}"#,
                ));
            }
            if name == HOSTILE[0] && i == 80 {
                rows.push(row(MetricType::Change, 1.0, ""));
            }
        }
    }
    rows.push(MetricRow {
        timestamp: end,
        batch: "hidden".into(),
        name: "secret".into(),
        metric_type: MetricType::Metric,
        value: 1.0,
        metadata: String::new(),
    });
    store.upsert_metrics("metrics", &rows).await.unwrap();
    let env = anomstack::config::EnvVars::from_pairs(QUIET);
    let mut settings = dir.settings(&env);
    settings.database = location(&dir);
    settings.public_feedback = public_feedback;
    let app = spawn_app(settings, config, env).await;
    drop(store);
    Site {
        _dir: dir,
        store: app.store.clone(),
        state: app.state.clone(),
        app,
        end,
    }
}

struct Page {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
}

async fn send(state: &AppState, request: Request<Body>) -> Page {
    let resp = router(state.clone()).oneshot(request).await.unwrap();
    let status = resp.status();
    let set_cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        set_cookie,
    }
}

async fn get(state: &AppState, uri: &str) -> Page {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// The expand dialog's content for `metric`'s anomaly at `t`.
fn expand_url(metric: &str, t: NaiveDateTime) -> String {
    format!(
        "/batch/web/anomalies/expand?metric={metric}&ts={}",
        anomstack::timestamp::format_db(t).replace(' ', "+")
    )
}

/// The CSRF cookie a page set (`name=value`, for a Cookie header) and its token.
fn csrf_pair(page: &Page) -> (String, String) {
    let set_cookie = page.set_cookie.as_deref().expect("a CSRF cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    (cookie, token)
}

fn enc(s: &str) -> String {
    anomstack::web::view::segment(s)
}

#[tokio::test]
async fn home_lists_visible_batches_busiest_first_with_an_empty_state() {
    let site = site(false).await;
    let home = get(&site.state, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    let web = home.body.find("/batch/web").unwrap();
    let empty = home.body.find("/batch/empty").unwrap();
    assert!(web < empty, "the batch with alerts comes first");
    assert!(
        !home.body.contains("/batch/hidden"),
        "disable_dashboard hides a batch"
    );
    assert!(home.body.contains("<dd>15</dd>"), "metric count");
    // One definition of an anomaly: a flagged point, whatever flagged it (5 points, 6 flags).
    assert!(
        home.body.contains("<dt>Anomalies, 24 h</dt><dd>5<span class=\"muted\"> (2 ML · 2 threshold · 1 change · 1 LLM)</span></dd>"),
        "{}",
        home.body
    );
    assert!(home.body.contains("<dt>Anomalous now</dt><dd>1</dd>"));
    // Needs attention: anomalous now first, then by count.
    let attention = &home.body
        [home.body.find("id=\"attention\"").unwrap()..home.body.find("id=\"batches\"").unwrap()];
    let m03 = attention.find(">m03<").expect("m03 is anomalous now");
    let spiky = attention.find(">spiky<").expect("spiky has 3 anomalies");
    let hostile = attention.find("&lt;script&gt;").expect("the change");
    assert!(m03 < spiky && spiky < hostile, "{attention}");
    assert!(attention.contains("anomalous now"));
    assert!(attention.contains("3 anomalies"));
    assert_eq!(attention.matches("<svg class=\"sparkline\"").count(), 3);
    assert!(
        attention.contains("class=\"marker tholdalert\""),
        "sparklines mark each kind"
    );
    assert!(
        home.body.contains("<svg class=\"bars\""),
        "anomalies per hour"
    );
    assert!(
        home.body
            .contains("No data yet, and none will come: its ingest schedule"),
        "an empty batch whose schedule is stopped (the default) says so, and how to start it"
    );
    assert!(
        home.body
            .contains("ingest_default_schedule_status: RUNNING")
    );
    // An operator switches the schedule on: the card says when rows will come.
    site.store
        .set_schedule_override("empty", "ingest", Some(true), "ops", Utc::now().naive_utc())
        .await
        .unwrap();
    let started = get(&site.state, "/").await;
    assert!(
        started.body.contains("No data yet: this batch ingests on"),
        "{}",
        started.body
    );
    assert!(home.body.contains("/assets/htmx.min.js"));
    assert!(home.body.contains("/assets/theme.js"));
    let dark = get(&site.state, "/?theme=dark").await;
    assert!(dark.body.contains("<html lang=\"en\" data-theme=\"dark\">"));
    assert!(
        home.body.contains("<html lang=\"en\">"),
        "no choice: the OS decides"
    );
    let css = get(&site.state, "/assets/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    let js = get(&site.state, "/assets/htmx.min.js").await;
    assert!(js.body.contains("htmx"));
}

#[tokio::test]
async fn the_batch_view_ranks_pages_and_filters_metrics() {
    let site = site(false).await;
    let page = get(&site.state, "/batch/web").await;
    assert_eq!(page.status, StatusCode::OK);
    // Ten lazy placeholders, the most anomalous first, then a load-more button.
    assert_eq!(page.body.matches("class=\"card placeholder\"").count(), 10);
    let first = page.body.find("hx-get=\"/batch/web/chart").unwrap();
    assert!(page.body[first..].starts_with("hx-get=\"/batch/web/chart?metric=spiky"));
    assert!(page.body.contains("Load next 5 of 5"));
    let more = get(&site.state, "/batch/web/cards?offset=10").await;
    assert_eq!(more.body.matches("class=\"card placeholder\"").count(), 5);
    assert!(!more.body.contains("Load next"));
    // Case-insensitive regex search.
    let found = get(&site.state, "/batch/web?search=%5EM0%5B12%5D%24").await;
    assert_eq!(found.body.matches("class=\"card placeholder\"").count(), 2);
    let none = get(&site.state, "/batch/web?search=nothing-like-this").await;
    assert!(none.body.contains("No matching metrics found"));
    // Settings travel in the links.
    let dark = get(&site.state, "/batch/web?theme=dark&size=large&columns=1").await;
    assert!(dark.body.contains("data-theme=\"dark\""));
    assert!(
        dark.body.contains("aria-pressed=\"true\">Large charts<"),
        "toggles show their state"
    );
    assert!(dark.body.contains("aria-pressed=\"false\">Thin lines<"));
    assert!(
        page.body.contains("15 metric(s) · <strong class=\"count flagged\">5 anomalies</strong> (2 ML · 2 threshold · 1 change · 1 LLM) in window 90n · 1 anomalous now"),
        "{}",
        page.body
    );
    assert!(dark.body.contains("class=\"charts one\""));
    assert!(
        dark.body.contains("size=large"),
        "placeholders keep the settings"
    );
    // Time windows.
    let hour = get(&site.state, "/batch/web?window=1h").await;
    assert!(hour.body.contains("window 1h"));
}

#[tokio::test]
async fn a_bad_search_or_window_is_explained_not_a_500() {
    let site = site(false).await;
    let bad = get(&site.state, "/batch/web?search=%28unclosed&window=soon").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("Invalid search pattern"), "{}", bad.body);
    assert!(bad.body.contains("window `soon`"));
    let huge = get(
        &site.state,
        &format!("/batch/web?search={}", "a".repeat(500)),
    )
    .await;
    assert_eq!(huge.status, StatusCode::OK);
    assert!(huge.body.contains("Invalid search pattern"));
}

#[tokio::test]
async fn chart_cards_draw_values_scores_and_markers() {
    let site = site(false).await;
    let card = get(&site.state, "/batch/web/chart?metric=spiky").await;
    assert_eq!(card.status, StatusCode::OK);
    assert!(card.body.contains("<svg class=\"chart\""));
    assert!(card.body.contains("class=\"value-line\""));
    assert!(card.body.contains("class=\"score-line\""));
    assert_eq!(card.body.matches("class=\"marker alert\"").count(), 2);
    assert_eq!(card.body.matches("class=\"marker tholdalert\"").count(), 1);
    assert!(
        card.body.contains("a &lt;b&gt;sudden&lt;/b&gt; jump"),
        "LLM explanation on hover"
    );
    assert!(
        card.body
            .contains("3 anomalies</span> (2 ML · 1 threshold · 1 LLM)"),
        "{}",
        card.body
    );
    // The threshold marker sits on the flagged value (16 is not the top of the plot).
    let d = card
        .body
        .split("class=\"marker tholdalert\" d=\"M")
        .nth(1)
        .unwrap();
    let y: f64 = d.split(['L', ' ']).nth(1).unwrap().parse().unwrap();
    assert!(
        y > 20.0,
        "a marker at its value, not along the top: y = {y}"
    );
    assert!(card.body.contains("time (UTC), "), "the time axis says UTC");
    assert!(
        card.body.contains("class=\"legend\""),
        "the legend shows by default"
    );
    assert!(
        card.body.contains(">threshold</span>"),
        "the legend names the kinds present"
    );
    let large = get(
        &site.state,
        "/batch/web/chart?metric=spiky&size=large&legend=off",
    )
    .await;
    assert!(large.body.contains("viewBox=\"0 0 640 420\""));
    assert!(!large.body.contains("class=\"legend\""));
    let missing = get(&site.state, "/batch/web/chart").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostile_metric_names_render_escaped_everywhere() {
    let site = site(false).await;
    let batch = get(&site.state, "/batch/web?columns=1").await;
    assert!(!batch.body.contains("<script>alert(1)</script>"));
    let all = get(&site.state, "/batch/web/cards?offset=0&window=500n").await;
    assert!(!all.body.contains("<script>"));
    for name in [HOSTILE[0], HOSTILE[1], HOSTILE[2], &long_name()] {
        let card = get(
            &site.state,
            &format!("/batch/web/chart?metric={}", enc(name)),
        )
        .await;
        assert_eq!(card.status, StatusCode::OK, "{name}");
        assert!(!card.body.contains("<script>"), "{name}");
        let page = get(&site.state, &format!("/batch/web/metric/{}", enc(name))).await;
        assert_eq!(page.status, StatusCode::OK, "{name}");
        assert!(!page.body.contains("<script>alert"), "{name}");
        if name == HOSTILE[2] {
            assert!(page.body.contains("ünïcødé 📈 metric"));
        }
        if name == HOSTILE[1] {
            assert!(page.body.contains("quote's &quot;double&quot;"));
        }
    }
    let anomalies = get(&site.state, "/batch/web/anomalies").await;
    assert!(!anomalies.body.contains("<script>alert"));
    assert!(
        anomalies
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
}

#[tokio::test]
async fn unknown_batches_metrics_and_pages_get_a_friendly_404() {
    let site = site(false).await;
    for uri in [
        "/batch/nope",
        "/batch/hidden",
        "/batch/nope/anomalies",
        "/batch/web/metric/nope",
        "/batch/%3Cscript%3E",
        "/nowhere",
    ] {
        let page = get(&site.state, uri).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(page.body.contains("Back to all batches"), "{uri}");
        assert!(!page.body.contains("<script>"), "{uri}");
    }
}

#[tokio::test]
async fn the_metric_page_shows_alerts_and_models() {
    let site = site(false).await;
    let page = get(&site.state, "/batch/web/metric/spiky").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Recent anomalies"));
    assert!(
        page.body
            .contains("3 anomalies in window 90n (2 ML · 1 threshold · 1 LLM)")
    );
    assert!(page.body.contains("value 16 is above the upper bound 15"));
    assert!(page.body.contains("a &lt;b&gt;sudden&lt;/b&gt; jump"));
    assert!(page.body.contains("knn_default"));
    assert!(page.body.contains("not trained yet"));
    // The alert rule over the chart: the threshold, and after each of the two ML alerts the
    // snooze (24 points, longer than the rest of the window) shaded as still waiting.
    assert!(
        page.body.contains("<line class=\"threshold-line\"")
            && page.body.contains("Alert threshold: smoothed score 0.995"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("<rect class=\"disarmed\"").count(),
        2 + 1,
        "two spans and the legend's key"
    );
    assert!(page.body.contains("until it re-arms: snoozed for 24 scored points, and until 6 points in a row are back under the threshold"));
}

#[tokio::test]
async fn the_anomaly_list_filters_by_kind_and_pages() {
    let site = site(false).await;
    let list = get(&site.state, "/batch/web/anomalies").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Showing 5 of 5 in all stored history"));
    // Newest first: m03's at i = 99, the LLM alert (i = 96), then the ML alert at i = 95.
    let llm = list.body.find("kind llmalert").unwrap();
    let alert = list.body.find("kind alert").unwrap();
    assert!(list.body.find(">m03<").unwrap() < llm && llm < alert);
    // The point flagged twice is one row with both kinds.
    assert_eq!(list.body.matches("<li class=\"anomaly\">").count(), 5);
    let twice = &list.body[alert..];
    let twice = &twice[..twice.find("</li>").unwrap()];
    assert!(
        twice.contains("kind tholdalert")
            && twice.contains("title=\"value 16 is above the upper bound 15\""),
        "{twice}"
    );
    assert_eq!(list.body.matches("<svg class=\"sparkline\"").count(), 5);
    assert!(
        list.body.contains("disabled"),
        "no feedback without a session"
    );
    let changes = get(&site.state, "/batch/web/anomalies?kind=change").await;
    assert!(changes.body.contains("Showing 1 of 1 with this kind"));
    let thresholds = get(&site.state, "/batch/web/anomalies?kind=tholdalert").await;
    assert!(thresholds.body.contains("Showing 2 of 2 with this kind"));
    let page_two = get(&site.state, "/batch/web/anomalies?page=2").await;
    assert!(page_two.body.contains("Showing 0 of 5"));
    let bogus = get(&site.state, "/batch/web/anomalies?kind=bogus&page=0").await;
    assert_eq!(bogus.status, StatusCode::OK);
    assert!(bogus.body.contains("Showing 5 of 5"));
}

fn feedback_request(
    site: &Site,
    cookie: Option<&str>,
    token: &str,
    verdict: &str,
) -> Request<Body> {
    let ts = (site.end - Duration::minutes(5 * 4)).format("%Y-%m-%d %H:%M:%S");
    let form = format!(
        "metric=spiky&ts={}&verdict={verdict}&csrf={token}",
        ts.to_string().replace(' ', "+")
    );
    let mut request = Request::post("/batch/web/feedback")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("hx-request", "true");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    request.body(Body::from(form)).unwrap()
}

async fn feedback_rows(store: &Store) -> Vec<String> {
    let result = store
        .query(
            "SELECT metric_type FROM metrics WHERE metric_type IN ('thumbsup', 'thumbsdown')",
            "t",
        )
        .await
        .unwrap();
    result
        .rows
        .iter()
        .map(|r| match &r[0] {
            anomstack::store::Value::Text(s) => s.clone(),
            _ => String::new(),
        })
        .collect()
}

#[tokio::test]
async fn feedback_is_per_anomaly_idempotent_undoable_and_csrf_protected() {
    let site = site(true).await;
    let list = get(&site.state, "/batch/web/anomalies").await;
    let (cookie, token) = csrf_pair(&list);
    assert!(list.body.contains(&format!("value=\"{token}\"")));

    let up = send(
        &site.state,
        feedback_request(&site, Some(&cookie), &token, "up"),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert!(up.body.contains("class=\"active\""));
    assert!(
        up.body.contains("value=\"clear\""),
        "the active thumb now clears"
    );
    // The same click again: still one row.
    send(
        &site.state,
        feedback_request(&site, Some(&cookie), &token, "up"),
    )
    .await;
    assert_eq!(feedback_rows(&site.store).await, ["thumbsup"]);
    // The other thumb replaces it; clear removes it.
    send(
        &site.state,
        feedback_request(&site, Some(&cookie), &token, "down"),
    )
    .await;
    assert_eq!(feedback_rows(&site.store).await, ["thumbsdown"]);
    let list = get(&site.state, "/batch/web/anomalies").await;
    assert!(
        list.body
            .contains("aria-pressed=\"true\" title=\"False alarm\"")
    );
    send(
        &site.state,
        feedback_request(&site, Some(&cookie), &token, "clear"),
    )
    .await;
    assert!(feedback_rows(&site.store).await.is_empty());

    // No cookie, a wrong token, a point that is no anomaly: refused, nothing stored.
    let forged = send(&site.state, feedback_request(&site, None, &token, "up")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = "0".repeat(48);
    let forged = send(
        &site.state,
        feedback_request(&site, Some(&cookie), &wrong, "up"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let not_anomaly = Request::post("/batch/web/feedback")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .body(Body::from(format!(
            "metric=m01&ts=2020-01-01+00:00:00&verdict=up&csrf={token}"
        )))
        .unwrap();
    assert_eq!(
        send(&site.state, not_anomaly).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        count(
            &site.store,
            "SELECT count(*) FROM metrics WHERE metric_type LIKE 'thumbs%'"
        )
        .await,
        0
    );

    // Public feedback is rate limited per client.
    let mut limited = false;
    for _ in 0..40 {
        let r = send(
            &site.state,
            feedback_request(&site, Some(&cookie), &token, "up"),
        )
        .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited);
}

#[tokio::test]
async fn feedback_needs_a_session_unless_public() {
    let site = site(false).await;
    let list = get(&site.state, "/batch/web/anomalies").await;
    let (cookie, token) = csrf_pair(&list);
    let r = send(
        &site.state,
        feedback_request(&site, Some(&cookie), &token, "up"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(feedback_rows(&site.store).await.is_empty());
}

/// The entry called `name` of a JSON array of named objects.
fn named<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no `{name}` in {list}"))
}

async fn json(state: &AppState, uri: &str) -> (StatusCode, serde_json::Value) {
    let page = get(state, uri).await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or_else(|e| panic!("{uri}: {e}: {}", page.body)),
    )
}

#[tokio::test]
async fn the_json_api_serves_batches_metrics_series_and_anomalies() {
    let site = site(false).await;
    let (status, batches) = json(&site.state, "/api/v1/batches").await;
    assert_eq!(status, StatusCode::OK);
    let web = named(&batches, "web");
    assert_eq!(web["metrics"], 15);
    assert_eq!(web["anomalies"], 5);
    assert_eq!(web["anomalous_now"], 1);
    assert_eq!(web["kinds"]["tholdalert"], 2);
    // Over the newest two points only m03's newest is an anomaly.
    let (_, newest) = json(&site.state, "/api/v1/batches?window=2n").await;
    assert_eq!(named(&newest, "web")["anomalies"], 1);
    assert_eq!(
        json(&site.state, "/api/v1/batches?window=soon").await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(
        batches
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != "hidden")
    );

    let (_, metrics) = json(&site.state, "/api/v1/batches/web/metrics?window=24h").await;
    let spiky = named(&metrics, "spiky");
    assert_eq!(spiky["points"], 100);
    assert_eq!(spiky["anomalies"], 3);
    assert_eq!(spiky["anomaly_rate"], 0.03);
    assert_eq!(spiky["anomalous_now"], false);
    assert_eq!(spiky["kinds"]["alert"], 2);
    assert_eq!(spiky["kinds"]["tholdalert"], 1);
    assert_eq!(spiky["kinds"]["llmalert"], 1);

    let (status, series) = json(&site.state, "/api/v1/batches/web/metrics/spiky/series").await;
    assert_eq!(status, StatusCode::OK);
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len(), 90);
    assert_eq!(points.iter().filter(|p| p["alert"] == true).count(), 2);
    assert!(
        points
            .iter()
            .any(|p| p["llmalert"] == "a <b>sudden</b> jump")
    );
    let hostile = format!(
        "/api/v1/batches/web/metrics/{}/series?window=5n",
        enc(HOSTILE[0])
    );
    let (_, series) = json(&site.state, &hostile).await;
    assert_eq!(series["metric"], HOSTILE[0]);
    assert_eq!(series["points"].as_array().unwrap().len(), 5);

    let (_, page) = json(&site.state, "/api/v1/batches/web/anomalies?per_page=3").await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["items"][1]["kinds"], serde_json::json!(["llmalert"]));
    assert_eq!(
        page["items"][2]["kinds"],
        serde_json::json!(["alert", "tholdalert"])
    );
    assert_eq!(page["items"][2]["flags"][1]["kind"], "tholdalert");
    let (_, changes) = json(&site.state, "/api/v1/batches/web/anomalies?kind=change").await;
    assert_eq!(changes["total"], 1);

    for (uri, status) in [
        ("/api/v1/batches/nope/metrics", StatusCode::NOT_FOUND),
        (
            "/api/v1/batches/web/metrics?window=soon",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/batches/web/metrics/nope/series",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/batches/web/anomalies?kind=bogus",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, body) = json(&site.state, uri).await;
        assert_eq!(got, status, "{uri}");
        assert!(body["error"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let site = site(false).await;
    let (status, doc) = json(&site.state, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/batches",
        "/api/v1/batches/{batch}/metrics",
        "/api/v1/batches/{batch}/metrics/{metric}/series",
        "/api/v1/batches/{batch}/anomalies",
        "/api/v1/metrics",
        "/api/v1/batches/{batch}/ingest",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/acknowledge",
        "/api/v1/incidents/{id}/resolve",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}

#[tokio::test]
async fn prometheus_metrics_count_runs_and_the_queue() {
    let site = site(false).await;
    let config = site.state.config.current();
    let ctx =
        anomstack::jobs::JobCtx::new(site.store.clone(), config.templates.clone(), Utc::now());
    // `SELECT 1` has no metric columns: a failed ingest run.
    let _ = anomstack::jobs::run_recorded(
        &ctx,
        config.batch("web").unwrap(),
        anomstack::config::BatchJob::Ingest,
        anomstack::jobs::Trigger::Cli,
    )
    .await;
    let page = get(&site.state, "/metrics").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("anomstack_job_runs_total{job=\"ingest\",status=\"failed\"} 1"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("anomstack_queue_jobs{state=\"pending\"} 0")
    );
    assert!(page.body.contains("anomstack_batches 3"));
    assert!(page.body.contains("anomstack_build_info{version="));
}

#[tokio::test]
async fn figures_are_cached_briefly_and_refresh_recomputes_them() {
    let site = site(false).await;
    let before = get(&site.state, "/").await;
    assert!(before.body.contains("<dd>15</dd>"));
    let row = MetricRow {
        timestamp: site.end,
        batch: "web".into(),
        name: "newcomer".into(),
        metric_type: MetricType::Metric,
        value: 1.0,
        metadata: String::new(),
    };
    // Written by another process (another handle on the same file): the cache holds.
    let other = Store::open(&DatabaseLocation::Local {
        path: site._dir.tmp.path().join("app.db"),
    })
    .await
    .unwrap();
    other
        .upsert_metrics("metrics", std::slice::from_ref(&row))
        .await
        .unwrap();
    let cached = get(&site.state, "/").await;
    assert!(cached.body.contains("<dd>15</dd>"), "served from the cache");
    let fresh = get(&site.state, "/?refresh=1").await;
    assert!(fresh.body.contains("<dd>16</dd>"), "refresh recomputes");
    // Written by this process (its worker or the push API): shown at the next load.
    let again = MetricRow {
        name: "second newcomer".into(),
        ..row
    };
    site.store
        .upsert_metrics("metrics", &[again])
        .await
        .unwrap();
    let next = get(&site.state, "/").await;
    assert!(
        next.body.contains("<dd>17</dd>"),
        "a local write refreshes the figures"
    );
}

#[tokio::test]
async fn a_long_time_window_reads_at_most_the_point_cap() {
    let site = site(false).await;
    let cap = anomstack::store::MAX_WINDOW_POINTS as i64;
    let rows: Vec<MetricRow> = (0..cap + 100)
        .map(|i| MetricRow {
            timestamp: site.end - Duration::minutes(i),
            batch: "web".into(),
            name: "dense".into(),
            metric_type: MetricType::Metric,
            value: i as f64,
            metadata: String::new(),
        })
        .collect();
    site.store.upsert_metrics("metrics", &rows).await.unwrap();
    let (_, series) = json(
        &site.state,
        "/api/v1/batches/web/metrics/dense/series?window=3650d",
    )
    .await;
    let points = series["points"].as_array().unwrap();
    assert_eq!(points.len() as i64, cap);
    assert_eq!(
        points.last().unwrap()["value"],
        0.0,
        "the newest points are kept"
    );
    let (_, series) = json(
        &site.state,
        "/api/v1/batches/web/metrics/dense/series?window=1h",
    )
    .await;
    // A minute's points, give or take the clock moving during the test.
    let n = series["points"].as_array().unwrap().len();
    assert!((59..=61).contains(&n), "{n}");
}

#[tokio::test]
async fn the_plot_job_draws_the_batch_and_the_dashboard_serves_it() {
    let site = site(false).await;
    let missing = get(&site.state, "/batch/web/plot.png").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("plot job has not run"),
        "{}",
        missing.body
    );
    assert!(
        !get(&site.state, "/batch/web")
            .await
            .body
            .contains("PNG snapshot")
    );

    let config = site.state.config.current();
    let ctx =
        anomstack::jobs::JobCtx::new(site.store.clone(), config.templates.clone(), Utc::now());
    let run = |batch: &'static str| {
        let (ctx, config) = (ctx.clone(), config.clone());
        async move {
            anomstack::jobs::run_recorded(
                &ctx,
                config.batch(batch).unwrap(),
                anomstack::config::BatchJob::Plot,
                anomstack::jobs::Trigger::Cli,
            )
            .await
            .unwrap()
        }
    };
    let report = run("web").await;
    assert!(
        report.log.iter().any(|l| l.contains("drew 15 metric(s)")),
        "{:?}",
        report.log
    );

    let response = router(site.state.clone())
        .oneshot(
            Request::get("/batch/web/plot.png")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    assert!(response.headers().contains_key(header::LAST_MODIFIED));
    let png = response.into_body().collect().await.unwrap().to_bytes();
    let reader = png::Decoder::new(std::io::Cursor::new(&png[..]))
        .read_info()
        .unwrap();
    assert_eq!(
        (reader.info().width, reader.info().height),
        (1200, 8 * 260),
        "15 metrics, two abreast"
    );
    let page = get(&site.state, "/batch/web").await;
    assert!(
        page.body.contains("href=\"/batch/web/plot.png\"") && page.body.contains("of 15 metric(s)"),
        "the batch page links the picture"
    );

    // A batch with nothing to draw keeps no picture and says why; a hidden batch has none.
    let report = run("empty").await;
    assert!(
        report
            .log
            .iter()
            .any(|l| l.contains("no values in the plot window")),
        "{:?}",
        report.log
    );
    assert_eq!(
        get(&site.state, "/batch/empty/plot.png").await.status,
        StatusCode::NOT_FOUND
    );
    run("hidden").await;
    assert_eq!(
        get(&site.state, "/batch/hidden/plot.png").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_anomaly_expands_to_its_chart_centred_on_it_with_only_it_marked() {
    let site = site(true).await;
    // As stored: whole seconds.
    let at = |i: i64| {
        chrono::Timelike::with_nanosecond(&(site.end - Duration::minutes(5 * (99 - i))), 0).unwrap()
    };
    let list = get(&site.state, "/batch/web/anomalies").await;
    assert!(list.body.contains("<dialog id=\"modal\""));
    let ts = anomstack::timestamp::format_db(at(90));
    let expand = format!(
        "/batch/web/anomalies/expand?metric=spiky&amp;ts={}",
        ts.replace(' ', "+").replace(':', "%3A")
    );
    assert!(
        list.body.contains(&expand),
        "⤢ loads the dialog: {}",
        list.body
    );

    // Centred: as many points before as after, where there are.
    let around = site
        .store
        .series_around("metrics", "web", "spiky", at(90), 5)
        .await
        .unwrap();
    let times: Vec<_> = around.iter().map(|p| p.timestamp).collect();
    assert_eq!(times.first(), Some(&at(85)));
    assert_eq!(times.last(), Some(&at(95)));
    assert_eq!(times.len(), 11);
    let newest = site
        .store
        .series_around("metrics", "web", "spiky", at(98), 5)
        .await
        .unwrap();
    assert_eq!(
        (newest.first().unwrap().timestamp, newest.len()),
        (at(93), 7)
    );

    let page = get(&site.state, &expand.replace("&amp;", "&")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<h2>spiky</h2>"), "{}", page.body);
    assert!(
        page.body.contains(&format!("ML at {} UTC", &ts[..16])),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("class=\"marker alert\"").count(),
        1,
        "the alert at i = 95 is not marked here"
    );
    assert!(!page.body.contains("class=\"marker llmalert\""));
    assert!(page.body.contains("name=\"from\" value=\"expanded\""));
    assert!(page.body.contains("href=\"/batch/web/metric/spiky\""));

    // An LLM alert shows its explanation.
    let llm = get(&site.state, &expand_url("spiky", at(96))).await;
    assert!(
        llm.body.contains("LLM: a &lt;b&gt;sudden&lt;/b&gt; jump"),
        "{}",
        llm.body
    );

    // No anomaly there, or no time at all.
    let calm = expand_url("spiky", at(50));
    assert_eq!(get(&site.state, &calm).await.status, StatusCode::NOT_FOUND);
    let bad = get(
        &site.state,
        "/batch/web/anomalies/expand?metric=spiky&ts=yesterday",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Feedback given in the dialog also updates the list's row, out of band.
    let (cookie, token) = csrf_pair(&list);
    let form = format!(
        "metric=spiky&ts={}&verdict=up&csrf={token}&from=expanded",
        ts.replace(' ', "+")
    );
    let answer = send(
        &site.state,
        Request::post("/batch/web/feedback")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .header(header::COOKIE, &cookie)
            .body(Body::from(form))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body.matches("<form").count(), 2, "{}", answer.body);
    assert_eq!(answer.body.matches("hx-swap-oob=\"true\"").count(), 1);
    assert_eq!(answer.body.matches("-expanded\"").count(), 1);
    assert_eq!(answer.body.matches("class=\"active\"").count(), 2);
    assert_eq!(feedback_rows(&site.store).await, ["thumbsup"]);
}

#[tokio::test]
async fn an_anomaly_older_than_the_newest_5000_points_still_expands() {
    let site = site(false).await;
    let newest = chrono::Timelike::with_nanosecond(&site.end, 0).unwrap();
    let at = |i: i64| newest - Duration::minutes(5200 - i);
    let row = |i: i64, metric_type: MetricType, value: f64| MetricRow {
        timestamp: at(i),
        batch: "web".into(),
        name: "long".into(),
        metric_type,
        value,
        metadata: String::new(),
    };
    let mut rows: Vec<MetricRow> = (0..=5200)
        .map(|i| row(i, MetricType::Metric, i as f64))
        .collect();
    rows.push(row(10, MetricType::Alert, 1.0));
    site.store.upsert_metrics("metrics", &rows).await.unwrap();
    let around = site
        .store
        .series_around("metrics", "web", "long", at(10), 60)
        .await
        .unwrap();
    assert_eq!(around.len(), 71, "10 before, 60 after");
    assert_eq!(around[0].value, Some(0.0));
    assert!(around[10].alert);
    let page = get(&site.state, &expand_url("long", at(10))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

/// The pages and the API read the same from a real libSQL server (what Turso runs), over
/// HTTP and through an embedded replica, as from the local file.
#[tokio::test]
async fn the_dashboard_reads_the_same_from_a_libsql_server_and_a_replica() {
    let server = crate::support::sqld::Sqld::start_with_auth().await;
    let token = server.token();
    for mode in ["remote", "replica"] {
        let site = if mode == "remote" {
            site_at(true, |_| crate::store_remote::remote(&server, &token)).await
        } else {
            site_at(true, |dir| {
                crate::store_remote::replica(&server, &token, dir.tmp.path().join("replica.db"))
            })
            .await
        };
        let home = get(&site.state, "/").await;
        assert_eq!(home.status, StatusCode::OK, "{mode}");
        assert!(
            home.body.contains("<dt>Anomalous now</dt><dd>1</dd>"),
            "{mode}: {}",
            home.body
        );
        let page = get(&site.state, "/batch/web").await;
        assert!(page.body.contains("5 anomalies"), "{mode}");
        let card = get(&site.state, "/batch/web/chart?metric=spiky").await;
        assert!(card.body.contains("3 anomalies"), "{mode}");
        let list = get(&site.state, "/batch/web/anomalies").await;
        assert!(list.body.contains("Showing 5 of 5"), "{mode}");
        let (_, batches) = json(&site.state, "/api/v1/batches").await;
        let web = named(&batches, "web");
        assert_eq!(web["anomalies"], 5, "{mode}");
        // Feedback writes (to the primary) and reads back at once.
        let (cookie, csrf) = csrf_pair(&list);
        let voted = send(
            &site.state,
            feedback_request(&site, Some(&cookie), &csrf, "up"),
        )
        .await;
        assert!(
            voted.status.is_success() || voted.status.is_redirection(),
            "{mode}: {} {}",
            voted.status,
            voted.body
        );
        assert_eq!(
            count(
                &site.store,
                "SELECT count(*) FROM metrics WHERE metric_type = 'thumbsup'"
            )
            .await,
            1,
            "{mode}"
        );
        site.app.stop().await;
        // The next mode starts on the same server: clear it.
        let conn = site.store.connect().await.unwrap();
        conn.execute("DELETE FROM metrics", ()).await.unwrap();
    }
}

#[tokio::test]
async fn stale_metrics_are_marked_on_the_batch_the_home_page_and_the_api() {
    let site = site(false).await;
    // What the freshness check records: m05 went stale, m06 went stale and came back.
    let now = Utc::now().naive_utc();
    let change = |metric: &str, stale: bool, at: NaiveDateTime| StateChange {
        metric: metric.into(),
        stale,
        at,
        last_seen: None,
        interval_seconds: Some(300),
    };
    for (metric, stale, at) in [
        ("m05", true, now),
        ("m06", true, now - Duration::minutes(10)),
        ("m06", false, now),
    ] {
        assert!(
            site.store
                .change_freshness("web", &change(metric, stale, at))
                .await
                .unwrap()
        );
    }
    // A change already made (or older than the state) is not made twice.
    assert!(
        !site
            .store
            .change_freshness("web", &change("m05", true, now + Duration::minutes(1)))
            .await
            .unwrap()
    );
    assert!(
        !site
            .store
            .change_freshness("web", &change("m06", true, now - Duration::minutes(5)))
            .await
            .unwrap()
    );
    let batch = get(&site.state, "/batch/web").await;
    assert!(
        batch.body.contains(">1 stale: m05</span>"),
        "{}",
        batch.body
    );
    let card = get(&site.state, "/batch/web/chart?metric=m05").await;
    assert!(card.body.contains("class=\"badge stale\""), "{}", card.body);
    let card = get(&site.state, "/batch/web/chart?metric=m06").await;
    assert!(!card.body.contains("class=\"badge stale\""));
    let home = get(&site.state, "/").await;
    assert!(
        home.body.contains("1 metric(s) without new data"),
        "{}",
        home.body
    );
    let (_, batches) = json(&site.state, "/api/v1/batches").await;
    assert_eq!(named(&batches, "web")["stale"], 1);
    let (_, metrics) = json(&site.state, "/api/v1/batches/web/metrics").await;
    assert_eq!(named(&metrics, "m05")["stale"], true);
    assert_eq!(named(&metrics, "m06")["stale"], false);
}
