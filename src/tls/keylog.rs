//! The NSS key log format, as written under SSLKEYLOGFILE by Chrome, Firefox, OpenSSL,
//! BoringSSL, Node's `keylog` event, Python's `SSLContext.keylog_filename` and curl: one secret
//! a line, `LABEL <client_random, 64 hex digits> <secret, hex>`; `#` starts a comment.
//!
//! Labels (draft-ietf-tls-keylogfile §3): `CLIENT_RANDOM` (the TLS 1.2 master secret, 48 bytes),
//! `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0` (TLS 1.3, the hash's length: 32 or 48),
//! and `CLIENT_EARLY_TRAFFIC_SECRET`, `EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET` (accepted; the
//! early traffic secret is kept, the exporters are not needed and dropped).
//!
//! Hostile input is bounded: lines over [`MAX_LINE`] bytes are skipped, at most [`MAX_ENTRIES`]
//! client randoms are kept, and each call names at most [`MAX_WARNINGS`] problems (the rest are
//! counted in one last warning).

use super::keys::Secret;
use foldhash::HashMap;
use std::fmt;

/// Longest line read; a real one is under 240 bytes (label, 64 + 96 hex digits).
pub const MAX_LINE: usize = 1024;
/// Client randoms kept (each costs about 300 bytes).
pub const MAX_ENTRIES: usize = 1 << 20;
/// Problems named per call of [`KeyLog::add`] / [`KeyLog::append`].
pub const MAX_WARNINGS: usize = 20;

/// The secrets the log gives for one client random.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2: `CLIENT_RANDOM`, the 48-byte master secret.
    pub master: Option<Secret>,
    pub client_handshake: Option<Secret>,
    pub server_handshake: Option<Secret>,
    pub client_traffic_0: Option<Secret>,
    pub server_traffic_0: Option<Secret>,
    pub client_early: Option<Secret>,
}

/// A line the key log could not use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLogProblem {
    /// Longer than [`MAX_LINE`] bytes.
    LineTooLong { len: usize },
    /// Not ASCII text.
    NotText,
    /// Fewer than three fields.
    MissingFields { got: usize },
    /// More than three fields.
    ExtraFields { got: usize },
    /// A field that is not an even number of hex digits.
    BadHex { field: &'static str },
    /// The client random is not 32 bytes.
    RandomLength { got: usize },
    /// A secret of the wrong length for its label.
    SecretLength { label: &'static str, got: usize, want: &'static str },
    /// A label this reader does not know (its first 40 bytes).
    UnknownLabel(String),
    /// [`MAX_ENTRIES`] client randoms are held: further ones are dropped.
    Full,
    /// More problems than are named in one call.
    More { count: u64 },
}

/// A problem with one line of one key log source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLogWarning {
    pub source: String,
    /// 1-based; 0 for [`KeyLogProblem::More`].
    pub line: u64,
    pub problem: KeyLogProblem,
}

impl fmt::Display for KeyLogWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let KeyLogProblem::More { count } = self.problem {
            return write!(f, "{}: {count} more lines skipped", self.source);
        }
        write!(f, "{} line {}: ", self.source, self.line)?;
        match &self.problem {
            KeyLogProblem::LineTooLong { len } => write!(f, "line of {len} bytes skipped (longer than {MAX_LINE})"),
            KeyLogProblem::NotText => f.write_str("not text (binary bytes), skipped"),
            KeyLogProblem::MissingFields { got } => {
                write!(f, "{got} fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)")
            }
            KeyLogProblem::ExtraFields { got } => {
                write!(f, "{got} fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)")
            }
            KeyLogProblem::BadHex { field } => write!(f, "{field} is not hex (an even number of hex digits)"),
            KeyLogProblem::RandomLength { got } => write!(f, "client random is {got} bytes, it has 32"),
            KeyLogProblem::SecretLength { label, got, want } => {
                write!(f, "{label} secret is {got} bytes, {want}")
            }
            KeyLogProblem::UnknownLabel(l) => write!(f, "unknown label {l:?}, line skipped"),
            KeyLogProblem::Full => write!(f, "the key log is full ({MAX_ENTRIES} client randoms): line dropped"),
            KeyLogProblem::More { .. } => Ok(()),
        }
    }
}

/// Which field of [`Secrets`] a label fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Master,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
    ClientEarly,
    Exporter,
}

impl Label {
    fn parse(s: &[u8]) -> Option<(Label, &'static str)> {
        Some(match s {
            b"CLIENT_RANDOM" => (Label::Master, "CLIENT_RANDOM"),
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => (Label::ClientHandshake, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => (Label::ServerHandshake, "SERVER_HANDSHAKE_TRAFFIC_SECRET"),
            b"CLIENT_TRAFFIC_SECRET_0" => (Label::ClientTraffic0, "CLIENT_TRAFFIC_SECRET_0"),
            b"SERVER_TRAFFIC_SECRET_0" => (Label::ServerTraffic0, "SERVER_TRAFFIC_SECRET_0"),
            b"CLIENT_EARLY_TRAFFIC_SECRET" => (Label::ClientEarly, "CLIENT_EARLY_TRAFFIC_SECRET"),
            b"EXPORTER_SECRET" => (Label::Exporter, "EXPORTER_SECRET"),
            b"EARLY_EXPORTER_SECRET" => (Label::Exporter, "EARLY_EXPORTER_SECRET"),
            _ => return None,
        })
    }
}

/// Secrets by client random, from any number of sources.
#[derive(Clone, Debug)]
pub struct KeyLog {
    entries: HashMap<[u8; 32], Secrets>,
    /// Per source: lines read so far, and an unfinished last line held by [`KeyLog::append`].
    sources: HashMap<String, Pending>,
    /// [`MAX_ENTRIES`], but for tests.
    max_entries: usize,
}

impl Default for KeyLog {
    fn default() -> Self {
        KeyLog { entries: HashMap::default(), sources: HashMap::default(), max_entries: MAX_ENTRIES }
    }
}

#[derive(Clone, Debug, Default)]
struct Pending {
    lines: u64,
    partial: Vec<u8>,
    /// The partial line is over [`MAX_LINE`]: its bytes are no longer kept, only counted.
    overlong: usize,
}

/// Collects at most [`MAX_WARNINGS`] warnings, counting the rest.
struct Warnings<'a> {
    source: &'a str,
    out: Vec<KeyLogWarning>,
    more: u64,
}

impl Warnings<'_> {
    fn push(&mut self, line: u64, problem: KeyLogProblem) {
        if self.out.len() < MAX_WARNINGS {
            self.out.push(KeyLogWarning { source: self.source.to_string(), line, problem });
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<KeyLogWarning> {
        if self.more > 0 {
            let problem = KeyLogProblem::More { count: self.more };
            self.out.push(KeyLogWarning { source: self.source.to_string(), line: 0, problem });
        }
        self.out
    }
}

impl KeyLog {
    /// Reads `text`, a whole key log or a whole part of one (a file, a pcapng Decryption
    /// Secrets Block): its last line counts even without a newline. `source` names it in
    /// warnings; line numbers go on from an earlier call with the same source.
    pub fn add(&mut self, text: &[u8], source: &str) -> Vec<KeyLogWarning> {
        self.feed(text, source, true)
    }

    /// Reads `text` as the next bytes of a growing key log (a live capture's SSLKEYLOGFILE):
    /// complete lines are read, an unfinished last line is kept until more of the same source
    /// arrives (at most [`MAX_LINE`] bytes of it). [`KeyLog::add`] with empty text ends it.
    pub fn append(&mut self, text: &[u8], source: &str) -> Vec<KeyLogWarning> {
        self.feed(text, source, false)
    }

    fn feed(&mut self, text: &[u8], source: &str, complete: bool) -> Vec<KeyLogWarning> {
        let mut warn = Warnings { source, out: Vec::new(), more: 0 };
        let mut p = self.sources.remove(source).unwrap_or_default();
        let mut rest = text;
        loop {
            let (head, last) = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let (head, tail) = rest.split_at(nl);
                    rest = &tail[1..];
                    (head, false)
                }
                None => (std::mem::take(&mut rest), true),
            };
            if last && !complete {
                if p.overlong > 0 || p.partial.len() + head.len() > MAX_LINE {
                    p.overlong += p.partial.len() + head.len();
                    p.partial.clear();
                } else {
                    p.partial.extend_from_slice(head);
                }
                break;
            }
            if last && head.is_empty() && p.partial.is_empty() && p.overlong == 0 {
                break;
            }
            p.lines += 1;
            if p.overlong > 0 || p.partial.len() + head.len() > MAX_LINE {
                let len = p.overlong + p.partial.len() + head.len();
                warn.push(p.lines, KeyLogProblem::LineTooLong { len });
                p.partial.clear();
                p.overlong = 0;
            } else if p.partial.is_empty() {
                self.line(head, p.lines, &mut warn);
            } else {
                p.partial.extend_from_slice(head);
                let line = std::mem::take(&mut p.partial);
                self.line(&line, p.lines, &mut warn);
            }
            if last {
                break;
            }
        }
        // Sources are few: their names come from the caller (file names, "pcapng DSB").
        self.sources.insert(source.to_string(), p);
        warn.finish()
    }

    /// The secrets for a connection, by its ClientHello's random.
    pub fn lookup(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.entries.get(client_random)
    }

    /// Every client random and its secrets, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8; 32], &Secrets)> {
        self.entries.iter()
    }

    /// Client randoms held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn line(&mut self, line: &[u8], no: u64, warn: &mut Warnings<'_>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.trim_ascii();
        if line.is_empty() || line.first() == Some(&b'#') {
            return;
        }
        if !line.is_ascii() || line.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            warn.push(no, KeyLogProblem::NotText);
            return;
        }
        let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret)) = (fields.next(), fields.next(), fields.next()) else {
            let got = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty()).count();
            warn.push(no, KeyLogProblem::MissingFields { got });
            return;
        };
        let extra = fields.count();
        if extra > 0 {
            warn.push(no, KeyLogProblem::ExtraFields { got: 3 + extra });
            return;
        }
        let Some((label, name)) = Label::parse(label) else {
            let shown = String::from_utf8_lossy(&label[..label.len().min(40)]).into_owned();
            warn.push(no, KeyLogProblem::UnknownLabel(shown));
            return;
        };
        let mut cr = [0u8; 32];
        match unhex_into(random, &mut cr) {
            Ok(32) => {}
            Ok(got) => return warn.push(no, KeyLogProblem::RandomLength { got }),
            Err(Unhex::TooLong) => return warn.push(no, KeyLogProblem::RandomLength { got: random.len() / 2 }),
            Err(Unhex::Bad) => return warn.push(no, KeyLogProblem::BadHex { field: "client random" }),
        }
        let mut buf = [0u8; 64];
        let got = match unhex_into(secret, &mut buf) {
            Ok(n) => n,
            Err(Unhex::TooLong) => secret.len() / 2,
            Err(Unhex::Bad) => return warn.push(no, KeyLogProblem::BadHex { field: "secret" }),
        };
        let ok = match label {
            Label::Master => got == 48,
            _ => got == 32 || got == 48,
        };
        if !ok {
            let want = match label {
                Label::Master => "a TLS 1.2 master secret has 48",
                _ => "a TLS 1.3 secret has 32 (SHA-256) or 48 (SHA-384)",
            };
            return warn.push(no, KeyLogProblem::SecretLength { label: name, got, want });
        }
        if label == Label::Exporter {
            return;
        }
        let Some(secret) = Secret::new(&buf[..got]) else { return };
        if !self.entries.contains_key(&cr) && self.entries.len() >= self.max_entries {
            return warn.push(no, KeyLogProblem::Full);
        }
        let e = self.entries.entry(cr).or_default();
        let slot = match label {
            Label::Master => &mut e.master,
            Label::ClientHandshake => &mut e.client_handshake,
            Label::ServerHandshake => &mut e.server_handshake,
            Label::ClientTraffic0 => &mut e.client_traffic_0,
            Label::ServerTraffic0 => &mut e.server_traffic_0,
            Label::ClientEarly => &mut e.client_early,
            Label::Exporter => return,
        };
        *slot = Some(secret);
    }
}

enum Unhex {
    Bad,
    TooLong,
}

/// Hex digits into `out`; the number of bytes written.
fn unhex_into(hex: &[u8], out: &mut [u8]) -> Result<usize, Unhex> {
    if !hex.len().is_multiple_of(2) {
        return Err(Unhex::Bad);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    if hex.iter().any(|&c| digit(c).is_none()) {
        return Err(Unhex::Bad);
    }
    let n = hex.len() / 2;
    let out = out.get_mut(..n).ok_or(Unhex::TooLong)?;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (digit(pair[0]).unwrap_or(0) << 4) | digit(pair[1]).unwrap_or(0);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
    const S32: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";

    fn cr() -> [u8; 32] {
        crate::tls::keys::unhex(CR).try_into().unwrap()
    }

    #[test]
    fn reads_every_label_comments_blank_lines_and_crlf() {
        let master = "ab".repeat(48);
        let text = format!(
            "# SSL/TLS secrets log file, generated by OpenSSL\r\n\r\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {CR} {S32}\r\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {S32}\n\
             EXPORTER_SECRET {CR} {S32}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {}\n\
             SERVER_TRAFFIC_SECRET_0 {CR} {S32}\n\
             CLIENT_RANDOM {} {master}",
            "cd".repeat(48),
            CR.to_uppercase()
        );
        let mut k = KeyLog::default();
        assert_eq!(k.add(text.as_bytes(), "keys.log"), vec![]);
        let s = k.lookup(&cr()).unwrap();
        assert_eq!(s.server_handshake.unwrap().as_bytes(), &crate::tls::keys::unhex(S32)[..]);
        assert_eq!(s.client_traffic_0.unwrap().as_bytes(), &[0xcd; 48][..]);
        assert_eq!(s.master.unwrap().as_bytes(), &[0xab; 48][..]);
        assert!(s.client_early.is_none());
        assert_eq!(k.len(), 1);
        assert!(k.lookup(&[0; 32]).is_none());
    }

    #[test]
    fn warnings_name_source_and_line() {
        let text = format!(
            "CLIENT_RANDOM {CR} {}\n\
             CLIENT_RANDOM {CR}\n\
             CLIENT_RANDOM {CR} abc\n\
             CLIENT_RANDOM {} {S32}\n\
             FOO_SECRET {CR} {S32}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {}\n\
             CLIENT_RANDOM zz{} {S32}\n\
             \x00\x01\x02\n\
             a b c d\n",
            "00".repeat(20),
            &CR[..62],
            "11".repeat(20),
            &CR[2..]
        );
        let mut k = KeyLog::default();
        let w: Vec<String> = k.add(text.as_bytes(), "keys.log").iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "keys.log line 1: CLIENT_RANDOM secret is 20 bytes, a TLS 1.2 master secret has 48",
                "keys.log line 2: 2 fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)",
                "keys.log line 3: secret is not hex (an even number of hex digits)",
                "keys.log line 4: client random is 31 bytes, it has 32",
                "keys.log line 5: unknown label \"FOO_SECRET\", line skipped",
                "keys.log line 6: CLIENT_TRAFFIC_SECRET_0 secret is 20 bytes, a TLS 1.3 secret has 32 (SHA-256) or 48 (SHA-384)",
                "keys.log line 7: client random is not hex (an even number of hex digits)",
                "keys.log line 8: not text (binary bytes), skipped",
                "keys.log line 9: 4 fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)",
            ]
        );
        assert!(k.is_empty());
    }

    #[test]
    fn hostile_input_is_bounded() {
        // A huge line, a million bad lines, binary: few warnings, nothing kept, no panic.
        let mut text = vec![b'A'; 10 * MAX_LINE];
        text.push(b'\n');
        for _ in 0..1_000_000 {
            text.extend_from_slice(b"x\n");
        }
        text.extend((0..=255u8).cycle().take(100_000));
        let mut k = KeyLog::default();
        let w = k.add(&text, "big.log");
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert_eq!(w[0].to_string(), "big.log line 1: line of 10240 bytes skipped (longer than 1024)");
        let KeyLogProblem::More { count } = w[MAX_WARNINGS].problem else { panic!("{:?}", w.last()) };
        assert!(count > 999_000, "{count}");
        assert!(k.is_empty());
        // Secrets longer than any label allows.
        let w = k.add(format!("CLIENT_RANDOM {CR} {}\n", "00".repeat(400)).as_bytes(), "k");
        assert_eq!(w[0].to_string(), "k line 1: CLIENT_RANDOM secret is 400 bytes, a TLS 1.2 master secret has 48");
    }

    #[test]
    fn entries_are_capped() {
        let mut k = KeyLog { max_entries: 3, ..KeyLog::default() };
        let mut text = String::new();
        for i in 0..5u8 {
            text.push_str(&format!("CLIENT_RANDOM {:02x}{} {}\n", i, &CR[2..], "ab".repeat(48)));
        }
        // A known client random still takes more secrets when full.
        text.push_str(&format!("SERVER_TRAFFIC_SECRET_0 00{} {S32}\n", &CR[2..]));
        let w: Vec<String> = k.add(text.as_bytes(), "keys.log").iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                format!("keys.log line 4: the key log is full ({MAX_ENTRIES} client randoms): line dropped"),
                format!("keys.log line 5: the key log is full ({MAX_ENTRIES} client randoms): line dropped"),
            ]
        );
        assert_eq!(k.len(), 3);
        let mut first = cr();
        first[0] = 0;
        assert!(k.lookup(&first).is_some_and(|s| s.server_traffic_0.is_some() && s.master.is_some()));
    }

    #[test]
    fn appended_partial_lines_wait_for_the_rest() {
        let line = format!("SERVER_TRAFFIC_SECRET_0 {CR} {S32}\n");
        let mut k = KeyLog::default();
        for (i, b) in line.as_bytes().iter().enumerate() {
            assert_eq!(k.append(std::slice::from_ref(b), "live"), vec![]);
            assert_eq!(k.lookup(&cr()).is_some(), i + 1 == line.len(), "{i}");
        }
        // Line numbers go on across calls of one source; a last line without newline is read
        // by `add`.
        let w = k.append(b"bad\nCLIENT_RANDOM x", "live");
        assert_eq!(w[0].to_string(), "live line 2: 1 fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)");
        let w = k.add(b"", "live");
        assert_eq!(w[0].to_string(), "live line 3: 2 fields, a key log line has 3 (LABEL CLIENT_RANDOM SECRET)");
        // An overlong partial line is counted, not kept.
        let w = k.append(&vec![b'z'; 3 * MAX_LINE], "live");
        assert!(w.is_empty());
        let w = k.append(b"zz\n", "live");
        assert_eq!(w[0].to_string(), "live line 4: line of 3074 bytes skipped (longer than 1024)");
    }
}
