//! Loading the metrics folder: every batch file merged over the defaults and the environment,
//! checked, and sorted into batches that run, batches switched off, and batches that are
//! invalid. One invalid batch never holds up the others: it is reported with its problems
//! (`validate` exits 1) while every valid batch runs.
//!
//! A folder copied from the original Anomstack loads unchanged: keys its code read under other
//! names are aliases, keys of retired features are ignored, keys that are not configuration
//! keys stay template variables, its stock job queries are served by the native ones, and what
//! was read differently from how it is written is said once, as a note.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use figment::Figment;
use figment::value::Value;

use super::batch::{BatchSpec, DbKind};
use super::discover::{self, CUSTOM, SourceFile};
use super::error::{ConfigError, ConfigErrors, Origin};
use super::layers::{self, Layer, origin_of};
use super::template::{Templates, read_user_template};
use super::{Batch, Config, EnvVars, InvalidBatch, Settings, embedded, keys, original, validate};

/// What loading found besides batches, kept in order and said once each.
#[derive(Default)]
struct Findings {
    /// Problems not tied to one batch.
    errors: Vec<ConfigError>,
    /// Warnings with the batches they concern (none for a file-wide one).
    warnings: Vec<(String, Option<String>)>,
    notes: Vec<String>,
}

impl Findings {
    fn warn(&mut self, text: String, batch: Option<&str>) {
        self.warnings.push((text, batch.map(str::to_owned)));
    }

    fn note(&mut self, text: String) {
        if !self.notes.contains(&text) {
            self.notes.push(text);
        }
    }
}

/// Loads and validates every batch under `settings.metrics_dir`. Only a metrics folder that
/// cannot be read at all is an `Err`; every other problem is in the returned [`Config`].
pub fn load(settings: &Settings, env: &EnvVars) -> Result<Config, ConfigErrors> {
    let metrics_dir = &settings.metrics_dir;
    let mut found = Findings::default();
    let templates = Templates::new(metrics_dir);

    let builtin = builtin_layer().map_err(ConfigErrors)?;
    let mut base_layers = vec![clone_layer(&builtin)];
    let user_defaults = metrics_dir.join(embedded::DEFAULTS_YAML);
    if user_defaults.exists() {
        match discover::read_file(&user_defaults, false) {
            Ok(mut file) => {
                found.errors.append(&mut file.errors);
                describe_file(&user_defaults, &file, &mut found);
                if original::is_original_defaults(&file.layer.dict) {
                    let implied = original::implied_by_original_defaults(&file.layer.dict);
                    let code_defaults = implied.len() > 1;
                    for (key, value) in implied {
                        file.layer.dict.insert(key.into(), value);
                    }
                    found.note(format!(
                        "{}: the original Anomstack's defaults (no `model_score_method`): scores \
                         are PyOD's min-max probability (`linear`), which its alert_threshold was \
                         chosen for{}",
                        user_defaults.display(),
                        if code_defaults {
                            "; it leaves models or features to the code, so the original's \
                             apply (PCA and KNN on smoothed differences with five lags)"
                        } else {
                            ""
                        }
                    ));
                }
                base_layers.push(file.layer);
            }
            Err(e) => found.errors.extend(e),
        }
    }

    let files = discover::batch_files(metrics_dir, settings.ignore_examples)
        .map_err(|e| ConfigErrors(vec![e]))?;

    let mut invalid: Vec<InvalidBatch> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut sources: Vec<(PathBuf, SourceFile)> = Vec::new();
    for path in files {
        let file = match discover::read_file(&path, true) {
            Ok(file) => file,
            Err(errors) => {
                invalid.push(InvalidBatch::unnamed(path, errors));
                continue;
            }
        };
        let Some(name) = file.batch_name.clone() else {
            invalid.push(InvalidBatch::unnamed(path, file.errors));
            continue;
        };
        let clash = if let Some(first) = seen.get(&name) {
            Some(format!(
                "batch `{name}` is already defined in {}; batch names must be unique",
                first.display()
            ))
        } else {
            seen.iter()
                .find(|(other, _)| env_prefix(other) == env_prefix(&name))
                .map(|(other, _)| {
                    format!(
                        "batches `{other}` and `{name}` would share the environment prefix {}; rename one",
                        env_prefix(&name)
                    )
                })
        };
        if let Some(reason) = clash {
            let mut errors = file.errors;
            errors.push(ConfigError::new(
                Origin::File(path.clone()),
                Some("metric_batch"),
                reason,
            ));
            invalid.push(InvalidBatch {
                name: Some(name),
                file: path,
                errors,
            });
            continue;
        }
        seen.insert(name, path.clone());
        sources.push((path, file));
    }

    let mut overrides = batch_overrides(env, &seen, &sources, &mut found);

    let mut batches = Vec::new();
    let mut disabled = Vec::new();
    for (path, file) in sources {
        let name = file.batch_name.clone().unwrap_or_default();
        describe_file(&path, &file, &mut found);
        let (batch_layers, override_errors) = overrides.remove(&name).unwrap_or_default();
        let mut figment = batch_figment(&base_layers, file.layer, env, &batch_layers);
        let is_disabled = figment
            .extract_inner::<bool>("disable_batch")
            .unwrap_or(false);
        figment = relax_db(figment, &path, &mut found);
        let mut problems = file.errors;
        problems.extend(override_errors);
        match figment.extract::<BatchSpec>() {
            Ok(mut spec) => {
                serve_original_job_queries(&mut spec, &figment, &builtin, metrics_dir, &mut found);
                normalize_table_key(&mut spec, &figment, &mut found);
                problems.extend(check_batch(&spec, &figment, &path, &templates, &mut found));
                problems.extend(check_translation(&spec, &figment, settings, &templates));
                let lacking = check_capabilities(&spec, &figment, settings, &path);
                if problems.is_empty() {
                    if is_disabled {
                        disabled.push((name, path));
                    } else {
                        for w in &lacking {
                            found.warn(w.clone(), Some(&name));
                        }
                        match Batch::new(spec, path.clone(), lacking) {
                            Ok(batch) => batches.push(batch),
                            Err(e) => invalid.push(InvalidBatch {
                                name: Some(name),
                                errors: vec![ConfigError::new(
                                    Origin::File(path.clone()),
                                    Some("model_configs"),
                                    e,
                                )],
                                file: path,
                            }),
                        }
                    }
                    continue;
                }
            }
            Err(e) => problems.extend(e.into_iter().map(|e| {
                let mut err = figment_error(&e);
                if err.origin == Origin::Builtin {
                    err.origin = Origin::File(path.clone());
                }
                err
            })),
        }
        if is_disabled {
            for e in &problems {
                found.warn(format!("{e} (ignored: the batch is disabled)"), None);
            }
            disabled.push((name, path));
        } else {
            invalid.push(InvalidBatch {
                name: Some(name),
                file: path,
                errors: problems,
            });
        }
    }

    Ok(Config {
        batches,
        disabled,
        invalid,
        kept_running: Vec::new(),
        errors: found.errors,
        warnings: group_warnings(found.warnings),
        notes: found.notes,
        templates,
    })
}

/// Notes on what a file sets that is read differently from how it is written.
fn describe_file(path: &Path, file: &SourceFile, found: &mut Findings) {
    for key in &file.ignored_keys {
        found.warn(
            format!(
                "{}: key `{key}` is a hook of the original Anomstack that has no effect here",
                path.display()
            ),
            None,
        );
    }
    if !file.retired_keys.is_empty() {
        found.note(format!(
            "{}: {} of a feature the original Anomstack retired; ignored",
            path.display(),
            list_keys(&file.retired_keys, "key", "keys")
        ));
    }
    for (name, target) in &file.aliased_keys {
        let why = keys::alias(name).map_or("", |a| a.why);
        found.note(format!(
            "{}: key `{name}` is read as `{target}` ({why})",
            path.display()
        ));
    }
}

fn list_keys(keys: &[String], one: &str, many: &str) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "{} {}",
        if keys.len() == 1 { one } else { many },
        quoted.join(", ")
    )
}

/// One line per distinct warning, naming the batches it concerns when it concerns several.
fn group_warnings(warnings: Vec<(String, Option<String>)>) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut batches: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (text, batch) in warnings {
        let entry = batches.entry(text.clone()).or_insert_with(|| {
            order.push(text.clone());
            Vec::new()
        });
        if let Some(b) = batch
            && !entry.contains(&b)
        {
            entry.push(b);
        }
    }
    order
        .into_iter()
        .map(|text| match batches.get(&text).map(Vec::as_slice) {
            Some([]) | None => text,
            Some([one]) => format!("{text} (batch `{one}`)"),
            Some(many) => format!(
                "{text} (batches {})",
                many.iter()
                    .map(|b| format!("`{b}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect()
}

fn builtin_layer() -> Result<Layer, Vec<ConfigError>> {
    let text = embedded::get(embedded::DEFAULTS_YAML)
        .ok_or_else(|| vec![ConfigError::new(Origin::Builtin, None, "missing")])?;
    let file = discover::parse_text(Origin::Builtin, text, false)?;
    if file.errors.is_empty() {
        Ok(file.layer)
    } else {
        Err(file.errors)
    }
}

fn clone_layer(layer: &Layer) -> Layer {
    Layer {
        origin: layer.origin.clone(),
        dict: layer.dict.clone(),
    }
}

/// The built-in defaults as a batch named `name` (no ingest needed).
pub fn builtin_defaults_batch(name: &str) -> Result<BatchSpec, ConfigErrors> {
    let base = builtin_layer().map_err(ConfigErrors)?;
    let named = Layer::single(
        Origin::Builtin,
        "metric_batch",
        Value::from(name.to_owned()),
    );
    batch_figment(&[base], named, &EnvVars::default(), &[])
        .extract()
        .map_err(|e| ConfigErrors(e.into_iter().map(|e| figment_error(&e)).collect()))
}

/// Loads one batch file on top of the built-in defaults, without the environment: for tools
/// such as `anomstack backtest --config` that take a batch's settings from a file alone.
/// Includes resolve relative to the file's folder.
pub fn load_file(path: &Path) -> Result<Batch, ConfigErrors> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let templates = Templates::new(&dir);
    let base = builtin_layer().map_err(ConfigErrors)?;
    let file = discover::read_file(path, true).map_err(ConfigErrors)?;
    if !file.errors.is_empty() {
        return Err(ConfigErrors(file.errors));
    }
    let figment = batch_figment(&[clone_layer(&base)], file.layer, &EnvVars::default(), &[]);
    let mut spec: BatchSpec = figment
        .extract()
        .map_err(|e| ConfigErrors(e.into_iter().map(|e| figment_error(&e)).collect()))?;
    let mut found = Findings::default();
    serve_original_job_queries(&mut spec, &figment, &base, &dir, &mut found);
    normalize_table_key(&mut spec, &figment, &mut found);
    let problems = check_batch(&spec, &figment, path, &templates, &mut found);
    if problems.is_empty() {
        Batch::new(spec, path.to_path_buf(), Vec::new()).map_err(|e| {
            ConfigErrors(vec![ConfigError::new(
                Origin::File(path.to_path_buf()),
                Some("model_configs"),
                e,
            )])
        })
    } else {
        Err(ConfigErrors(problems))
    }
}

/// One environment override: the variable, the dotted key it sets, and the typed value.
type Override = (String, String, Value);

fn batch_figment(base: &[Layer], batch: Layer, env: &EnvVars, overrides: &[Override]) -> Figment {
    let mut fig = Figment::new();
    for layer in base {
        fig = fig.merge(clone_layer(layer));
    }
    if let Some(table) = env.get("ANOMSTACK_TABLE_KEY") {
        fig = fig.merge(global_layer("ANOMSTACK_TABLE_KEY", "table_key", table));
    }
    fig = fig.merge(batch);
    if let Some(path) = env.get("ANOMSTACK_MODEL_PATH") {
        fig = fig.merge(global_layer("ANOMSTACK_MODEL_PATH", "model_path", path));
    }
    if let Some(project) = env.get("ANOMSTACK_GCP_PROJECT_ID") {
        fig = fig.join(global_layer(
            "ANOMSTACK_GCP_PROJECT_ID",
            "gcp_project_id",
            project,
        ));
    }
    for (var, path, value) in overrides {
        fig = fig.merge(Layer::single(
            Origin::EnvVar(var.clone()),
            path,
            value.clone(),
        ));
    }
    fig
}

fn global_layer(var: &str, key: &str, value: &str) -> Layer {
    Layer::single(
        Origin::EnvVar(var.to_owned()),
        key,
        Value::from(value.trim().to_owned()),
    )
}

/// `ANOMSTACK__<BATCH>__<KEY>` variables, typed and grouped by batch name, with the problems
/// of each batch's variables. A key a batch file keeps as a template variable may be
/// overridden too (as YAML).
fn batch_overrides(
    env: &EnvVars,
    batches: &BTreeMap<String, PathBuf>,
    sources: &[(PathBuf, SourceFile)],
    found: &mut Findings,
) -> BTreeMap<String, (Vec<Override>, Vec<ConfigError>)> {
    let by_prefix: Vec<(String, &String)> = batches
        .keys()
        .map(|name| (env_prefix(name), name))
        .collect();
    let custom_of = |batch: &str| -> BTreeSet<&str> {
        sources
            .iter()
            .filter(|(_, f)| f.batch_name.as_deref() == Some(batch))
            .flat_map(|(_, f)| f.custom_keys.iter().map(String::as_str))
            .collect()
    };
    let mut out: BTreeMap<String, (Vec<Override>, Vec<ConfigError>)> = BTreeMap::new();
    for (var, raw) in env.iter() {
        let upper = var.to_ascii_uppercase();
        if !upper.starts_with("ANOMSTACK__") || raw.trim().is_empty() {
            continue;
        }
        // The longest matching prefix wins, so batch `a` does not capture `a_b`'s variables.
        let Some((prefix, name)) = by_prefix
            .iter()
            .filter(|(p, _)| upper.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
        else {
            found.warn(
                format!("environment variable {var} matches no metric batch; it is ignored"),
                None,
            );
            continue;
        };
        let entry = out.entry((*name).clone()).or_default();
        let path = var[prefix.len()..].to_ascii_lowercase().replace("__", ".");
        let origin = Origin::EnvVar(var.to_owned());
        let target = keys::alias(&path).map_or(path.clone(), |a| a.target.to_owned());
        let (path, kind) = match keys::find(&target) {
            Some(key) => (target, key.kind),
            None if custom_of(name).contains(path.as_str()) => {
                (format!("{CUSTOM}.{path}"), keys::Kind::Yaml)
            }
            None => {
                let top = path.split('.').next().unwrap_or(&path);
                let hint = match keys::find(top) {
                    Some(_) => {
                        let nested: Vec<&str> = keys::nested_of(top).collect();
                        if nested.is_empty() {
                            format!("; `{top}` has no keys that can be set one by one")
                        } else {
                            format!("; `{top}` accepts {}", nested.join(", "))
                        }
                    }
                    None => keys::suggest(top)
                        .map(|k| format!("; did you mean `{k}`?"))
                        .unwrap_or_default(),
                };
                entry.1.push(ConfigError::new(
                    origin,
                    Some(&path),
                    format!("unknown key{hint}"),
                ));
                continue;
            }
        };
        match layers::coerce(raw, kind) {
            Ok(value) => entry.0.push((var.to_owned(), path, value)),
            Err(reason) => entry.1.push(ConfigError::new(origin, Some(&path), reason)),
        }
    }
    out
}

/// `ANOMSTACK__MY_BATCH__` for batch `my-batch`, as the original spells it.
pub fn env_prefix(batch: &str) -> String {
    format!(
        "ANOMSTACK__{}__",
        batch.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// `db` names where `ingest_sql` runs. A batch that ingests otherwise does not use it, so an
/// engine this app does not know (the original's examples have `db: prometheus` on Python
/// batches) is set aside with a note rather than failing the batch.
fn relax_db(figment: Figment, path: &Path, found: &mut Findings) -> Figment {
    let Ok(db) = figment.extract_inner::<String>("db") else {
        return figment;
    };
    let known = serde_json::from_value::<DbKind>(serde_json::Value::String(db.clone())).is_ok();
    let has_sql = figment
        .extract_inner::<Option<String>>("ingest_sql")
        .ok()
        .flatten()
        .is_some();
    if known || has_sql {
        return figment;
    }
    found.note(format!(
        "{}: db `{db}` is only where ingest_sql would run; this batch has no ingest_sql, so it is not used",
        path.display()
    ));
    figment.merge(Layer::single(
        Origin::Builtin,
        "db",
        Value::from("sqlite".to_owned()),
    ))
}

/// Job queries that are the original Anomstack's stock templates (a file its `defaults.yaml`
/// includes, or the text itself) are replaced by the built-in query for the key: the original's
/// are shaped for its Python jobs and carry its bugs (section 17 of its description), the
/// native ones give the intended semantics. Said once per file.
fn serve_original_job_queries(
    spec: &mut BatchSpec,
    figment: &Figment,
    builtin: &Layer,
    metrics_dir: &Path,
    found: &mut Findings,
) {
    for key in original::JOB_QUERY_KEYS {
        let Some(slot) = job_query_mut(spec, key) else {
            continue;
        };
        let origin = origin_of(figment.find_metadata(key));
        let (what, text, stock_place) = match original::lone_include(slot) {
            Some(include) => {
                let text = read_user_template(metrics_dir, include);
                let file = Path::new(include.trim_start_matches("./"));
                (
                    metrics_dir.join(file).display().to_string(),
                    text,
                    in_defaults_folder(file),
                )
            }
            None => (
                format!("{origin} (key `{key}`)"),
                Some(slot.clone()),
                matches!(&origin, Origin::File(path) if in_defaults_folder(path)),
            ),
        };
        let Some(text) = text.filter(|t| original::is_original_job_template(t)) else {
            continue;
        };
        let job = key.trim_end_matches("_sql");
        // Only the defaults folder's queries are the stock ones; a query a user wrote or
        // edited elsewhere keeps its intent (and a delete with conditions of its own never
        // widens to ours).
        let stock = stock_place && (*key != "delete_sql" || original::is_stock_delete(&text));
        if !stock {
            found.warn(
                format!(
                    "{what}: shaped like the original Anomstack's {job} query but changed or \
                     kept outside defaults/; it runs as written (DuckDB SQL translated where \
                     the engine needs it). Delete the key to run anomstack's native {job} query"
                ),
                Some(&spec.metric_batch),
            );
            continue;
        }
        let Some(native) = builtin.dict.get(*key).and_then(|v| v.as_str()) else {
            continue;
        };
        *slot = native.to_owned();
        found.note(format!(
            "{what}: the original Anomstack's {job} query; anomstack runs its native {job} \
             query in its place{}",
            intended_semantics(key)
        ));
    }
}

/// A file in a `defaults` folder (`defaults/defaults.yaml`, `defaults/sql/train.sql`), where
/// the original keeps its stock queries.
fn in_defaults_folder(path: &Path) -> bool {
    path.components()
        .rev()
        .skip(1)
        .take(2)
        .any(|c| c.as_os_str() == "defaults")
}

/// What the native query does that the original's stock query did not.
fn intended_semantics(key: &str) -> &'static str {
    match key {
        "train_sql" => " (train_min_n is a minimum count; the newest points are not held out)",
        "score_sql" => " (each point is scored once, not re-inserted every run)",
        "alert_sql" => {
            " (the score is smoothed over the newest and older points, and recent alerts snooze)"
        }
        "change_sql" => " (changes are flagged; the original's never fired)",
        _ => "",
    }
}

fn job_query_mut<'a>(spec: &'a mut BatchSpec, key: &str) -> Option<&'a mut String> {
    Some(match key {
        "train_sql" => &mut spec.train_sql,
        "score_sql" => &mut spec.score_sql,
        "alert_sql" => &mut spec.alert_sql,
        "change_sql" => &mut spec.change_sql,
        "llmalert_sql" => &mut spec.llmalert_sql,
        "plot_sql" => &mut spec.plot_sql,
        "delete_sql" => &mut spec.delete_sql,
        "summary_sql" => &mut spec.summary_sql,
        _ => return None,
    })
}

/// A dotted `table_key` of the original's warehouses (`tmp.metrics`,
/// `project.dataset.metrics`): rows live in the app database, in the table its last part names.
fn normalize_table_key(spec: &mut BatchSpec, figment: &Figment, found: &mut Findings) {
    let Some(table) = validate::table_of_key(&spec.table_key) else {
        return;
    };
    if table != spec.table_key {
        found.note(format!(
            "{}: table_key `{}` names a table of another database; rows are stored in the app \
             database, in table `{table}`",
            origin_of(figment.find_metadata("table_key")),
            spec.table_key
        ));
        spec.table_key = table;
    }
}

/// DuckDB SQL that will run on SQLite must translate; a construct without a translation would
/// fail every ingest, so it is found now.
fn check_translation(
    spec: &BatchSpec,
    figment: &Figment,
    settings: &Settings,
    templates: &Templates,
) -> Option<ConfigError> {
    // A batch that never ingests never runs its query: nothing to hold its other jobs up.
    let sql = spec
        .ingest_sql
        .as_deref()
        .filter(|_| !spec.disable_ingest && !spec.disable_batch)?;
    let engine = settings.sources.engine(spec.db);
    let (from, to) = (spec.ingest_dialect(), engine.dialect());
    if from != to && !crate::dialect::translates(from, to) {
        return Some(ConfigError::new(
            origin_of(figment.find_metadata("sql_dialect")),
            Some("sql_dialect"),
            format!(
                "SQL written for {} is only translated to SQLite (db sqlite or turso); on `{}` \
                 write the engine's own SQL and leave sql_dialect at auto",
                spec.sql_dialect.as_str(),
                engine.as_str()
            ),
        ));
    }
    if !crate::dialect::translates(from, to) {
        return None;
    }
    let when = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single()?;
    let rendered = templates.render(sql, spec, when).ok()?;
    let e = crate::dialect::translate(&rendered, from, to, None).err()?;
    Some(ConfigError::new(
        origin_of(figment.find_metadata("ingest_sql")),
        Some("ingest_sql"),
        format!(
            "{e}; set `sql_dialect` to the dialect the query is written in, or run the batch on DuckDB"
        ),
    ))
}

/// What this build and environment lack for the batch: engines and model stores compiled
/// out, engines without credentials. The batch stays valid (its other jobs run); the jobs that
/// need the missing part fail with the same message when they run.
fn check_capabilities(
    spec: &BatchSpec,
    figment: &Figment,
    settings: &Settings,
    path: &Path,
) -> Vec<String> {
    let mut out = Vec::new();
    let uses_sql = spec.ingest_sql.is_some() && !spec.disable_ingest;
    let db_origin = origin_of(figment.find_metadata("db"));
    if uses_sql && !DbKind::available().contains(&spec.db) {
        let db = spec.db.as_str();
        out.push(if settings.sources.engine(spec.db) != spec.db {
            format!(
                "{db_origin}: key `db`: DuckDB is not in this build, so the batch's DuckDB SQL \
                 runs on the app database, translated to SQLite (tables of a DuckDB file are \
                 not there); build with `--features duckdb` or use the Docker image to run it on DuckDB"
            )
        } else {
            format!(
                "{db_origin}: key `db`: `{db}` is not in this build: rebuild with `--features {db}` \
                 (or `full`; the Docker image has every engine); until then the batch's ingest fails"
            )
        });
    } else if uses_sql && let Some(var) = settings.sources.missing_variable(spec.db) {
        out.push(format!(
            "{}: db `{}` is not configured in this environment: set {var} (README, \"Data sources\"); until then the batch's ingest fails",
            path.display(),
            spec.db.as_str()
        ));
    }
    if let Some(problem) = validate::model_store_unavailable(&spec.model_path) {
        out.push(format!(
            "{}: key `model_path`: {problem}; until then the batch's train and score fail",
            origin_of(figment.find_metadata("model_path"))
        ));
    }
    out
}

/// Semantic rules and templates, each problem attributed to whoever set the key last.
fn check_batch(
    spec: &BatchSpec,
    figment: &Figment,
    path: &Path,
    templates: &Templates,
    found: &mut Findings,
) -> Vec<ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // A problem with a value the built-in defaults supply (such as no ingest query) is the
    // batch file's to fix.
    let origin = |key: &str| {
        std::iter::once(key)
            .chain(validate::related_keys(key).iter().copied())
            .map(|k| origin_of(figment.find_metadata(k)))
            .find(|o| *o != Origin::Builtin)
            .unwrap_or_else(|| Origin::File(path.to_path_buf()))
    };
    let at = |key: &str, reason: String| ConfigError::new(origin(key), Some(key), reason);
    let mut out: Vec<ConfigError> = validate::check(spec, dir)
        .into_iter()
        .map(|(key, reason)| at(key, reason))
        .collect();

    // Render every template once, so a missing include or a typo in a variable fails now
    // rather than at 3 a.m. in a job.
    let when = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single();
    let mut sql: Vec<(&str, &str)> = vec![
        ("train_sql", &spec.train_sql),
        ("score_sql", &spec.score_sql),
        ("alert_sql", &spec.alert_sql),
        ("change_sql", &spec.change_sql),
        ("llmalert_sql", &spec.llmalert_sql),
        ("plot_sql", &spec.plot_sql),
        ("delete_sql", &spec.delete_sql),
        ("summary_sql", &spec.summary_sql),
    ];
    if let Some(ingest) = &spec.ingest_sql {
        sql.push(("ingest_sql", ingest));
    }
    if let Some(ingest) = &spec.ingest_fn {
        sql.push(("ingest_fn", ingest));
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    for (key, source) in &sql {
        if let Some(when) = when
            && let Err(e) = templates.render(source, spec, when)
        {
            out.push(at(key, format!("template error: {e}")));
        }
        for name in templates.undefined_variables(source, spec) {
            found.warn(
                format!(
                    "{}: key `{key}`: the template uses `{name}`, which no key defines; it \
                     renders as nothing (as in Jinja2). Set `{name}` in the batch YAML, or \
                     under `vars:` as {{{{ vars.{name} }}}}",
                    origin(key)
                ),
                Some(&spec.metric_batch),
            );
        }
        used.extend(templates.variables_used(source));
    }

    // Keys that are not configuration keys: a template variable when a template uses one (as
    // the original allowed), otherwise a typo when one is close to a key, or ignored.
    for key in spec.custom.keys() {
        let from = origin_of(figment.find_metadata(&format!("{CUSTOM}.{key}")));
        if used.contains(key) {
            found.warn(
                format!(
                    "{from}: key `{key}` is not an anomstack key; templates see it as \
                     {{{{ {key} }}}}, as in the original. Move it under `vars:` (and write \
                     {{{{ vars.{key} }}}}) to make that explicit"
                ),
                None,
            );
        } else if let Some(close) = keys::suggest(key) {
            out.push(ConfigError::new(
                from,
                Some(key),
                format!("unknown key; did you mean `{close}`?"),
            ));
        } else {
            found.warn(
                format!(
                    "{from}: key `{key}` is not an anomstack key and no template uses it; ignored"
                ),
                None,
            );
        }
    }
    out
}

/// A figment error as one of ours: origin from its metadata, dotted key, plain-words reason.
fn figment_error(e: &figment::Error) -> ConfigError {
    use figment::error::Kind;
    let key = e.path.join(".");
    let reason = match &e.kind {
        Kind::InvalidType(actual, expected) => {
            format!("expected {}, got {actual}", plain_type(expected))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value {actual}: expected {}", plain_type(expected))
        }
        Kind::UnknownVariant(actual, expected) => format!(
            "unknown value `{actual}`; expected one of {}",
            expected.join(", ")
        ),
        Kind::UnknownField(field, expected) => {
            let close = expected
                .iter()
                .map(|k| (strsim::damerau_levenshtein(field, k), *k))
                .filter(|(d, _)| *d <= 2)
                .min_by_key(|(d, _)| *d)
                .map(|(_, k)| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| format!("; expected one of {}", expected.join(", ")));
            format!("unknown key `{field}`{close}")
        }
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        Kind::Message(m) => m.clone(),
        other => other.to_string(),
    };
    ConfigError {
        origin: origin_of(e.metadata.as_ref()),
        key: (!key.is_empty()).then_some(key),
        reason,
    }
}

fn plain_type(expected: &str) -> String {
    match expected {
        "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i32" | "i64" => "a whole number".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a string" => "text".into(),
        other => other.to_owned(),
    }
}
