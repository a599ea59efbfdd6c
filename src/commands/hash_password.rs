//! `anomstack hash-password`: the argon2 hash for `ANOMSTACK_ADMIN_PASSWORD_HASH`, read from
//! the terminal (twice) or from stdin.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;

use crate::password;

pub fn hash_password() -> anyhow::Result<ExitCode> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        if first != again {
            eprintln!("error: the passwords do not match");
            return Ok(ExitCode::FAILURE);
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let hash = password::hash_password(&password)?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}
