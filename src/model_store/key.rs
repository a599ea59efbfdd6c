//! Where a model is kept: names become key parts that are valid file and object names
//! whatever their length or characters. A plain short name is its own key (the original's
//! layout, readable in a listing); any other gets a readable prefix and a stable hash, so a
//! 10 KB or all-punctuation metric name never makes a path the file system refuses.

/// Longest name kept as is: two parts and the extension stay far below the 255 bytes most
/// file systems allow for one name.
const PLAIN_MAX: usize = 64;
/// Characters of a hashed name kept in front of its hash, for whoever reads the listing.
const PREFIX_MAX: usize = 32;

/// The key part of a batch, metric or model tag name.
pub fn part(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= PLAIN_MAX
        && !name.starts_with('.')
        && name.bytes().all(is_plain);
    if plain {
        return name.to_owned();
    }
    let prefix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && is_plain(c as u8) {
                c
            } else {
                '-'
            }
        })
        .take(PREFIX_MAX)
        .collect();
    // `~` is never in a plain name, so a hashed key cannot equal another name's plain one.
    format!(
        "{}~{:016x}",
        prefix.trim_start_matches('.'),
        fnv1a(name.as_bytes())
    )
}

/// `<metric>_<tag>.json`, the model's name inside its batch.
pub fn file_name(metric: &str, tag: &str) -> String {
    format!("{}_{}.json", part(metric), part(tag))
}

/// Where versions before keyed names kept the model, relative to the store's root: every
/// unsafe byte percent-encoded, whatever the length. Read when the keyed file is missing.
pub fn legacy_file(batch: &str, metric: &str, tag: &str) -> [String; 2] {
    [
        percent_encoded(batch),
        format!("{}_{}.json", percent_encoded(metric), percent_encoded(tag)),
    ]
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

fn percent_encoded(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if is_plain(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.starts_with('.') {
        out.replace_range(0..1, "%2E");
    }
    out
}

/// FNV-1a, 64 bits: fixed by its definition, so keys written by one version are found by
/// the next (std's hasher makes no such promise).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_their_own_keys() {
        assert_eq!(part("users_active-rate.usa"), "users_active-rate.usa");
        assert_eq!(
            file_name("revenue", "knn_default"),
            "revenue_knn_default.json"
        );
    }

    #[test]
    fn any_other_name_gets_a_bounded_key_that_cannot_leave_its_folder() {
        for name in [
            "x".repeat(10_000),
            "é/".repeat(5_000),
            "..".into(),
            "../../etc/passwd".into(),
            "a\0b".into(),
            String::new(),
            "%".repeat(80),
        ] {
            let key = part(&name);
            assert!(key.len() <= PREFIX_MAX + 17, "{key}");
            assert!(!key.starts_with('.') && !key.contains('/') && !key.contains('\0'));
            assert!(key.bytes().all(|b| is_plain(b) || b == b'~'), "{key}");
        }
        assert!(part("eu/rev:%").starts_with("eu-rev--~"));
    }

    #[test]
    fn names_that_differ_get_different_keys() {
        let long = "x".repeat(65);
        assert_ne!(part(&long), part(&"x".repeat(66)));
        assert_ne!(part("a/b"), part("a:b"));
        // A hashed key never equals a plain name.
        assert!(part(&long).contains('~'));
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published test vectors: keys written today must be found by later versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn legacy_names_are_percent_encoded() {
        assert_eq!(
            legacy_file("b", "../x", "knn"),
            ["b".to_owned(), "%2E.%2Fx_knn.json".to_owned()]
        );
    }
}
