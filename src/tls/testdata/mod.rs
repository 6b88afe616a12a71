//! Test inputs: RFC 8448's trace, and real conversations recorded by `make.py`.

use crate::tls::keys::unhex;

/// A value of `rfc8448.txt` by its name.
pub(crate) fn rfc8448(name: &str) -> Vec<u8> {
    let text = include_str!("rfc8448.txt");
    let line = text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(" = ")));
    match line {
        Some(hex) => unhex(hex),
        None => panic!("no {name} in rfc8448.txt"),
    }
}
