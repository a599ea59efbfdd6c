//! Build invariants that would otherwise fail late and obscurely.

/// Two libsql versions would link two copies of SQLite (duplicate `sqlite3_*` symbols).
#[test]
fn the_lockfile_holds_exactly_one_libsql() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock is committed");
    let versions: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.contains("name = \"libsql-ffi\""))
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "libsql-ffi appears {} times",
        versions.len()
    );
}
