//! Build identity, shown by `--version` and `/version` so an operator knows what is deployed.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Short git commit, or `unknown` outside a checkout.
pub const COMMIT: &str = env!("ANOMSTACK_BUILD_COMMIT");
/// UTC, RFC 3339.
pub const BUILD_TIME: &str = env!("ANOMSTACK_BUILD_TIME_UTC");
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ANOMSTACK_BUILD_COMMIT"),
    ", built ",
    env!("ANOMSTACK_BUILD_TIME_UTC"),
    ")"
);
