//! `anomstack validate`: load the configuration and say what would run, what would not and why.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::config;

pub fn validate(args: ValidateArgs) -> ExitCode {
    let (settings, env) = match super::settings(args.metrics_dir) {
        Ok(s) => s,
        Err(e) => {
            super::print_errors(&e);
            return ExitCode::FAILURE;
        }
    };
    match config::load(&settings, &env) {
        Ok(config) => {
            for note in &config.notes {
                eprintln!("note: {note}");
            }
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            let names: Vec<&str> = config.batches.iter().map(|b| b.name()).collect();
            let plural = |n: usize| if n == 1 { "" } else { "es" };
            let disabled = if config.disabled.is_empty() {
                String::new()
            } else {
                format!("; {} disabled", config.disabled.len())
            };
            if config.is_valid() {
                println!(
                    "ok: {} batch{} in {} ({}){disabled}",
                    names.len(),
                    plural(names.len()),
                    settings.metrics_dir.display(),
                    names.join(", "),
                );
                return ExitCode::SUCCESS;
            }
            super::print_errors(&config.problems());
            let invalid: Vec<String> = config.invalid.iter().map(|b| b.label()).collect();
            eprintln!(
                "{} batch{} in {} would run ({}){disabled}; {} invalid batch{} would not ({})",
                names.len(),
                plural(names.len()),
                settings.metrics_dir.display(),
                names.join(", "),
                invalid.len(),
                plural(invalid.len()),
                invalid.join(", "),
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            super::print_errors(&e);
            ExitCode::FAILURE
        }
    }
}
