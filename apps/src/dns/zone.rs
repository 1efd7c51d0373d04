//! Zone loading: RFC 1035 master files into plain records the server prepares answers from.
//!
//! Scanning is done by NLnet Labs' `domain` crate (feature `zonefile` only: no async
//! runtime, no network code). It was chosen over `hickory-proto`'s text parser because it
//! yields entries one at a time in file order with the owner's case kept, reports errors
//! with a line number, hands `$INCLUDE` (with its optional origin) back to the caller, and
//! parses every type we need (A, AAAA, NS, CNAME, SOA, MX, TXT, SRV, PTR, CAA, DS) plus
//! RFC 3597 `\#` data. Hickory's parser returns a map of record sets (file order and line
//! numbers lost), has no line numbers in its errors and rejects `$INCLUDE` with an origin.
//!
//! What we add around the crate:
//! - `$INCLUDE` is ours: the file is read relative to the including file's directory and
//!   scanned with the given origin, else the includer's current origin, and the includer's
//!   `$TTL`; it never changes the includer's origin (RFC 1035 5.1).
//! - Line numbers are ours: the text is cut into entries (parentheses, quotes, comments and
//!   escapes followed) and fed to the scanner one entry at a time, so each record knows the
//!   line it starts on, and a scanner error, which the crate sometimes places on the next
//!   line, is pinned inside the entry that caused it.
//! - Zone checks after parsing: one SOA at the apex, every owner at or below the apex,
//!   no CNAME beside other data (RFC 1034 3.6.2), NS at the apex.
//!
//! Limits of the crate: TTLs (records and `$TTL`) are plain seconds, BIND's `1h`/`1d`
//! units are refused. Our choices: the class defaults to IN when the file never names
//! one, and a missing final line feed is supplied.

use std::fmt;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use domain::base::iana::Class;
use domain::base::name::{Name, ToName};
use domain::base::rdata::ComposeRecordData;
use domain::rdata::ZoneRecordData;
use domain::zonefile::inplace::{Entry, ScannedRecord, Zonefile};

/// `$INCLUDE` nesting beyond this is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_RRSIG: u16 = 46;
const TYPE_NSEC: u16 = 47;

/// A loaded zone: its apex and its records in file order (includes inlined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// The apex as an uncompressed wire-format name.
    pub origin: Vec<u8>,
    pub records: Vec<Record>,
}

/// One resource record as written in the zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Uncompressed wire-format owner name, case as written.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: RData,
}

/// Record data, names as uncompressed wire-format byte vectors so that the server can
/// compress them when it builds responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ns(Vec<u8>),
    Cname(Vec<u8>),
    Ptr(Vec<u8>),
    Soa {
        mname: Vec<u8>,
        rname: Vec<u8>,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Mx {
        preference: u16,
        exchange: Vec<u8>,
    },
    /// The character-strings, each without its length byte.
    Txt(Vec<Vec<u8>>),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Vec<u8>,
    },
    Caa {
        flags: u8,
        tag: Vec<u8>,
        value: Vec<u8>,
    },
    Ds {
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
        digest: Vec<u8>,
    },
    /// Any other type the scanner knows, as uncompressed wire-format RDATA.
    Other(Vec<u8>),
}

/// Why a zone could not be loaded, and where: `file:line: reason` on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole (it cannot be read).
    pub line: usize,
    pub kind: ZoneErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneErrorKind {
    /// The file could not be read.
    Io(String),
    /// A `$INCLUDE`d file could not be read.
    Include {
        path: PathBuf,
        reason: String,
    },
    IncludeTooDeep,
    /// The origin given on the command line is not a domain name.
    BadOrigin(String),
    /// No origin given, no `$ORIGIN` and no SOA to take the apex from.
    NoOrigin,
    /// The scanner's own message.
    Syntax(String),
    NotInZone {
        owner: String,
        apex: String,
    },
    NoSoa {
        apex: String,
    },
    SecondSoa {
        apex: String,
    },
    SoaNotAtApex {
        owner: String,
        apex: String,
    },
    /// RFC 1034 3.6.2: a CNAME owner has no other data.
    CnameAndOtherData {
        owner: String,
    },
    NoApexNs {
        apex: String,
    },
}

impl fmt::Display for ZoneErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read zone file: {e}"),
            Self::Include { path, reason } => {
                write!(f, "cannot read $INCLUDE file {}: {reason}", path.display())
            }
            Self::IncludeTooDeep => {
                write!(f, "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep")
            }
            Self::BadOrigin(o) => write!(f, "origin {o:?} is not a domain name"),
            Self::NoOrigin => f.write_str("no origin: give one, or $ORIGIN, or an SOA"),
            Self::Syntax(s) => f.write_str(s),
            Self::NotInZone { owner, apex } => {
                write!(f, "{owner} is outside the zone {apex}")
            }
            Self::NoSoa { apex } => write!(f, "no SOA record at the apex {apex}"),
            Self::SecondSoa { apex } => write!(f, "second SOA record at the apex {apex}"),
            Self::SoaNotAtApex { owner, apex } => {
                write!(f, "SOA record at {owner}, not at the apex {apex}")
            }
            Self::CnameAndOtherData { owner } => {
                write!(f, "{owner} has a CNAME and other data (RFC 1034 3.6.2)")
            }
            Self::NoApexNs { apex } => write!(f, "no NS record at the apex {apex}"),
        }
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.kind)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.kind)
        }
    }
}

impl std::error::Error for ZoneError {}

/// Loads the zone in `path`. `origin` (from the command line) sets the apex and the
/// initial origin; without it the apex is the origin in effect at the first record, or
/// the SOA's owner when the file uses only absolute names.
pub fn load(path: &Path, origin: Option<&str>) -> Result<Zone, ZoneError> {
    let src = fs::read(path).map_err(|e| ZoneError {
        file: path.to_path_buf(),
        line: 0,
        kind: ZoneErrorKind::Io(e.to_string()),
    })?;
    load_bytes(&src, path, origin)
}

/// Loads a zone held in memory; `path` names it in errors and anchors `$INCLUDE`.
pub fn load_str(src: &str, path: &Path, origin: Option<&str>) -> Result<Zone, ZoneError> {
    load_bytes(src.as_bytes(), path, origin)
}

fn load_bytes(src: &[u8], path: &Path, origin: Option<&str>) -> Result<Zone, ZoneError> {
    let given = match origin {
        Some(o) => {
            let name: Name<Vec<u8>> = Name::from_str(&absolute(o)).map_err(|_| ZoneError {
                file: path.to_path_buf(),
                line: 0,
                kind: ZoneErrorKind::BadOrigin(o.to_string()),
            })?;
            Some(name.into_octets())
        }
        None => None,
    };
    let mut loader = Loader::default();
    loader.scan(src, path, origin.map(absolute), None, 0)?;
    let apex = match given.or(loader.first_origin.take()) {
        Some(apex) => apex,
        None => loader
            .records
            .iter()
            .find(|r| r.rtype == TYPE_SOA)
            .map(|r| r.owner.clone())
            .ok_or_else(|| ZoneError {
                file: path.to_path_buf(),
                line: 0,
                kind: ZoneErrorKind::NoOrigin,
            })?,
    };
    check(&apex, &loader.records).map_err(|(i, kind)| {
        let (file, line) = match i {
            Some(i) => loader.sites[i].clone(),
            None => (path.to_path_buf(), 0),
        };
        ZoneError { file, line, kind }
    })?;
    Ok(Zone {
        origin: apex,
        records: loader.records,
    })
}

#[derive(Default)]
struct Loader {
    records: Vec<Record>,
    /// Where each record starts: file and line.
    sites: Vec<(PathBuf, usize)>,
    /// The origin in effect when the first record was read.
    first_origin: Option<Vec<u8>>,
}

impl Loader {
    fn scan(
        &mut self,
        src: &[u8],
        path: &Path,
        origin: Option<String>,
        ttl: Option<u32>,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let err = |line, kind| ZoneError {
            file: path.to_path_buf(),
            line,
            kind,
        };
        let mut zf = Zonefile::new();
        zf.set_default_class(Class::IN);
        if let Some(o) = origin {
            let name =
                Name::from_str(&o).map_err(|_| err(0, ZoneErrorKind::BadOrigin(o.clone())))?;
            zf.set_origin(name);
        }
        // Lines the scanner counted that are not in the file.
        let mut shift = 0;
        let mut dollar_ttl = ttl;
        if let Some(t) = ttl {
            zf.extend_from_slice(format!("$TTL {t}\n").as_bytes());
            shift = 1;
            if let Err(e) = zf.next_entry() {
                return Err(err(0, ZoneErrorKind::Syntax(e.to_string())));
            }
        }
        let mut from = 0;
        for entry in split_entries(src) {
            zf.extend_from_slice(&src[from..entry.end]);
            if src[entry.end - 1] != b'\n' {
                zf.extend_from_slice(b"\n");
            }
            from = entry.end;
            let first = first_token(&src[entry.first..]);
            match zf.next_entry() {
                Err(e) => {
                    let (line, reason) = split_scanner_error(&e.to_string());
                    let line = line
                        .map(|l| l.saturating_sub(shift))
                        .unwrap_or(entry.start_line)
                        .clamp(entry.start_line, entry.end_line);
                    return Err(err(line, ZoneErrorKind::Syntax(reason)));
                }
                Ok(None) => {
                    if first.eq_ignore_ascii_case(b"$TTL") {
                        let rest = &src[entry.first + first.len()..entry.end];
                        dollar_ttl = std::str::from_utf8(first_token(trim_start(rest)))
                            .ok()
                            .and_then(|s| s.parse().ok());
                    }
                }
                Ok(Some(Entry::Record(rec))) => {
                    if self.first_origin.is_none() {
                        self.first_origin = zf.origin().ok().map(|o| wire(&o));
                    }
                    self.records.push(convert(&rec));
                    self.sites.push((path.to_path_buf(), entry.start_line));
                }
                Ok(Some(Entry::Include {
                    path: inc,
                    origin: inc_origin,
                })) => {
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(err(entry.start_line, ZoneErrorKind::IncludeTooDeep));
                    }
                    let inc_path = path
                        .parent()
                        .unwrap_or(Path::new(""))
                        .join(AsRef::<str>::as_ref(&inc));
                    let inc_src = fs::read(&inc_path).map_err(|e| {
                        err(
                            entry.start_line,
                            ZoneErrorKind::Include {
                                path: inc_path.clone(),
                                reason: e.to_string(),
                            },
                        )
                    })?;
                    let inc_origin = inc_origin
                        .or_else(|| zf.origin().ok())
                        .map(|n| absolute(&n.to_string()));
                    self.scan(&inc_src, &inc_path, inc_origin, dollar_ttl, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// One entry of a master file: a record or a directive, with any blank and comment lines
/// before it.
struct EntrySpan {
    /// Byte offset just past the entry's final line feed (or the end of the file).
    end: usize,
    /// Offset of its first token.
    first: usize,
    start_line: usize,
    end_line: usize,
}

/// Cuts a master file into entries (RFC 1035 5.1): a line feed ends an entry unless it is
/// inside parentheses; `;` starts a comment outside quotes; `\` escapes the next byte.
fn split_entries(src: &[u8]) -> Vec<EntrySpan> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut quoted = false;
    let mut comment = false;
    let mut first: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b == b'\n' {
            comment = false;
            // An unterminated quote ends at the line; the scanner reports it.
            quoted = false;
            if depth == 0 {
                if let Some((at, start_line)) = first.take() {
                    out.push(EntrySpan {
                        end: i + 1,
                        first: at,
                        start_line,
                        end_line: line,
                    });
                }
            }
            line += 1;
        } else if comment {
        } else if b == b'\\' {
            first.get_or_insert((i, line));
            if src.get(i + 1) == Some(&b'\n') {
                line += 1;
            }
            i += 1;
        } else if b == b'"' {
            first.get_or_insert((i, line));
            quoted = !quoted;
        } else if quoted {
        } else if b == b';' {
            comment = true;
        } else if b == b'(' {
            first.get_or_insert((i, line));
            depth += 1;
        } else if b == b')' {
            depth = depth.saturating_sub(1);
        } else if !matches!(b, b' ' | b'\t' | b'\r') {
            first.get_or_insert((i, line));
        }
        i += 1;
    }
    if let Some((at, start_line)) = first {
        out.push(EntrySpan {
            end: src.len(),
            first: at,
            start_line,
            end_line: line,
        });
    }
    out
}

/// Names from the command line and from the scanner's Display lack the final dot.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn first_token(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'('))
        .unwrap_or(s.len());
    &s[..end]
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(s.len());
    &s[start..]
}

/// The scanner's errors read `line:col: reason`.
fn split_scanner_error(msg: &str) -> (Option<usize>, String) {
    let mut parts = msg.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(line), Some(col), Some(reason)) if col.trim().parse::<usize>().is_ok() => {
            (line.trim().parse().ok(), reason.trim_start().to_string())
        }
        _ => (None, msg.to_string()),
    }
}

fn wire<N: ToName + ?Sized>(name: &N) -> Vec<u8> {
    name.to_vec().into_octets()
}

fn convert(rec: &ScannedRecord) -> Record {
    let rdata = match rec.data() {
        ZoneRecordData::A(a) => RData::A(a.addr()),
        ZoneRecordData::Aaaa(a) => RData::Aaaa(a.addr()),
        ZoneRecordData::Ns(ns) => RData::Ns(wire(ns.nsdname())),
        ZoneRecordData::Cname(c) => RData::Cname(wire(c.cname())),
        ZoneRecordData::Ptr(p) => RData::Ptr(wire(p.ptrdname())),
        ZoneRecordData::Soa(soa) => RData::Soa {
            mname: wire(soa.mname()),
            rname: wire(soa.rname()),
            serial: soa.serial().into_int(),
            refresh: soa.refresh().as_secs(),
            retry: soa.retry().as_secs(),
            expire: soa.expire().as_secs(),
            minimum: soa.minimum().as_secs(),
        },
        ZoneRecordData::Mx(mx) => RData::Mx {
            preference: mx.preference(),
            exchange: wire(mx.exchange()),
        },
        ZoneRecordData::Txt(txt) => RData::Txt(txt.iter().map(<[u8]>::to_vec).collect()),
        ZoneRecordData::Srv(srv) => RData::Srv {
            priority: srv.priority(),
            weight: srv.weight(),
            port: srv.port(),
            target: wire(srv.target()),
        },
        ZoneRecordData::Caa(caa) => RData::Caa {
            flags: caa.flags().bits(),
            // Tags are letters and digits only (RFC 8659 4.1), so Display is the bytes.
            tag: caa.tag().to_string().into_bytes(),
            value: caa.value().to_vec(),
        },
        ZoneRecordData::Ds(ds) => RData::Ds {
            key_tag: ds.key_tag(),
            algorithm: ds.algorithm().to_int(),
            digest_type: ds.digest_type().to_int(),
            digest: ds.digest().to_vec(),
        },
        other => {
            let mut buf = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = other.compose_rdata(&mut buf);
            RData::Other(buf)
        }
    };
    Record {
        owner: wire(rec.owner()),
        rtype: rec.rtype().to_int(),
        class: rec.class().to_int(),
        ttl: rec.ttl().as_secs(),
        rdata,
    }
}

/// Zone checks; the error names the index of the offending record, if there is one.
fn check(apex: &[u8], records: &[Record]) -> Result<(), (Option<usize>, ZoneErrorKind)> {
    let apex_text = || display_name(apex);
    if let Some(i) = records.iter().position(|r| !at_or_below(&r.owner, apex)) {
        return Err((
            Some(i),
            ZoneErrorKind::NotInZone {
                owner: display_name(&records[i].owner),
                apex: apex_text(),
            },
        ));
    }
    let mut soa = None;
    for (i, r) in records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.rtype == TYPE_SOA)
    {
        if !r.owner.eq_ignore_ascii_case(apex) {
            let owner = display_name(&r.owner);
            let apex = apex_text();
            return Err((Some(i), ZoneErrorKind::SoaNotAtApex { owner, apex }));
        }
        if soa.is_some() {
            return Err((Some(i), ZoneErrorKind::SecondSoa { apex: apex_text() }));
        }
        soa = Some(i);
    }
    let Some(soa) = soa else {
        let first = if records.is_empty() { None } else { Some(0) };
        return Err((first, ZoneErrorKind::NoSoa { apex: apex_text() }));
    };
    // RFC 1034 3.6.2, with RFC 4035 2.5's RRSIG and NSEC allowed beside a CNAME.
    let mut seen: std::collections::HashMap<Vec<u8>, (bool, bool)> = Default::default();
    for (i, r) in records.iter().enumerate() {
        if matches!(r.rtype, TYPE_RRSIG | TYPE_NSEC) {
            continue;
        }
        let (cname, other) = seen.entry(r.owner.to_ascii_lowercase()).or_default();
        let is_cname = r.rtype == TYPE_CNAME;
        if *cname || (is_cname && *other) {
            let owner = display_name(&r.owner);
            return Err((Some(i), ZoneErrorKind::CnameAndOtherData { owner }));
        }
        *cname |= is_cname;
        *other |= !is_cname;
    }
    if !records
        .iter()
        .any(|r| r.rtype == TYPE_NS && r.owner.eq_ignore_ascii_case(apex))
    {
        return Err((Some(soa), ZoneErrorKind::NoApexNs { apex: apex_text() }));
    }
    Ok(())
}

/// Whether wire-format `name` equals `apex` or lies below it, ignoring ASCII case.
fn at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        if name[at..].eq_ignore_ascii_case(apex) {
            return true;
        }
        at += 1 + name[at] as usize;
    }
    false
}

/// Presentation format of a wire-format name, for error messages.
fn display_name(name: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    while at < name.len() && name[at] != 0 {
        let len = name[at] as usize;
        for &b in name.get(at + 1..at + 1 + len).unwrap_or(&[]) {
            match b {
                b'.' | b'\\' | b'"' | b';' | b'(' | b')' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        at += 1 + len;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// A zone of `n` names under `synthetic.test.` (each `h<i>` with one A record in
/// 198.18.0.0/15) plus the apex SOA, NS and the name server's address: the benchmark's
/// large zone.
pub fn synthetic(n: usize) -> String {
    let mut z = String::with_capacity(64 + n * 28);
    z.push_str("$ORIGIN synthetic.test.\n$TTL 3600\n");
    z.push_str("@\tSOA\tns1 hostmaster 1 7200 3600 1209600 300\n");
    z.push_str("@\tNS\tns1\nns1\tA\t192.0.2.1\n");
    for i in 0..n {
        let a = 18 + (i >> 16) as u8 % 2;
        z.push_str(&format!(
            "h{i}\tA\t198.{a}.{}.{}\n",
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/zones")
            .join(name)
    }

    /// Wire format of a dotted absolute name without escapes, case kept.
    fn n(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
        {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn rec(owner: &str, rtype: u16, ttl: u32, rdata: RData) -> Record {
        Record {
            owner: n(owner),
            rtype,
            class: 1,
            ttl,
            rdata,
        }
    }

    fn error_of(name: &str) -> String {
        load(&fixture(name), None).unwrap_err().to_string()
    }

    #[test]
    fn example_zone_loads_every_record_as_written() {
        let zone = load(&fixture("example.com.zone"), None).unwrap();
        assert_eq!(zone.origin, n("example.com."));
        let digest = vec![
            0x2b, 0xb1, 0x83, 0xaf, 0x5f, 0x22, 0x58, 0x81, 0x79, 0xa5, 0x3b, 0x0a, 0x98, 0x63,
            0x1f, 0xad, 0x1a, 0x29, 0x21, 0x18,
        ];
        let expected = vec![
            rec(
                "example.com.",
                6,
                3600,
                RData::Soa {
                    mname: n("ns1.example.com."),
                    rname: n("hostmaster.example.com."),
                    serial: 2024010101,
                    refresh: 7200,
                    retry: 3600,
                    expire: 1209600,
                    minimum: 300,
                },
            ),
            rec("example.com.", 2, 3600, RData::Ns(n("ns1.example.com."))),
            rec("example.com.", 2, 3600, RData::Ns(n("ns2.example.net."))),
            rec(
                "example.com.",
                15,
                3600,
                RData::Mx {
                    preference: 10,
                    exchange: n("mail.example.com."),
                },
            ),
            rec("ns1.example.com.", 1, 3600, RData::A([192, 0, 2, 1].into())),
            rec(
                "ns1.example.com.",
                28,
                3600,
                RData::Aaaa("2001:db8::1".parse().unwrap()),
            ),
            rec("mail.example.com.", 1, 600, RData::A([192, 0, 2, 2].into())),
            rec(
                "Host.example.com.",
                1,
                3600,
                RData::A([192, 0, 2, 3].into()),
            ),
            rec(
                "www.example.com.",
                5,
                3600,
                RData::Cname(n("alias.example.com.")),
            ),
            rec(
                "alias.example.com.",
                5,
                3600,
                RData::Cname(n("Host.example.com.")),
            ),
            rec(
                "txt.example.com.",
                16,
                3600,
                RData::Txt(vec![
                    b"v=spf1 -all".to_vec(),
                    b"say \"hi\"; not a comment".to_vec(),
                    b"ABC\\".to_vec(),
                ]),
            ),
            rec(
                "_sip._tcp.example.com.",
                33,
                3600,
                RData::Srv {
                    priority: 10,
                    weight: 60,
                    port: 5060,
                    target: n("host.example.com."),
                },
            ),
            rec(
                "1.example.com.",
                12,
                3600,
                RData::Ptr(n("host.example.com.")),
            ),
            rec(
                "example.com.",
                257,
                3600,
                RData::Caa {
                    flags: 0,
                    tag: b"issue".to_vec(),
                    value: b"ca.example.net".to_vec(),
                },
            ),
            rec(
                "secure.example.com.",
                43,
                3600,
                RData::Ds {
                    key_tag: 60485,
                    algorithm: 5,
                    digest_type: 1,
                    digest,
                },
            ),
            rec(
                "*.wild.example.com.",
                1,
                3600,
                RData::A([192, 0, 2, 10].into()),
            ),
            rec(
                "sub.example.com.",
                2,
                3600,
                RData::Ns(n("ns.sub.example.com.")),
            ),
            rec(
                "ns.sub.example.com.",
                1,
                3600,
                RData::A([192, 0, 2, 53].into()),
            ),
            // From example.com.inc: its own origin, our $TTL.
            rec(
                "inc.example.com.",
                16,
                3600,
                RData::Txt(vec![b"included".to_vec()]),
            ),
            rec(
                "mx.inc.example.com.",
                15,
                60,
                RData::Mx {
                    preference: 5,
                    exchange: n("mail.example.com."),
                },
            ),
            rec(
                "x.other.example.com.",
                1,
                3600,
                RData::A([192, 0, 2, 77].into()),
            ),
            // The include's $ORIGIN did not leak back.
            rec(
                "after.example.com.",
                1,
                3600,
                RData::A([192, 0, 2, 99].into()),
            ),
            rec(
                "info.example.com.",
                13,
                3600,
                RData::Other(b"\x02PC\x05Linux".to_vec()),
            ),
        ];
        assert_eq!(zone.records.len(), expected.len());
        for (got, want) in zone.records.iter().zip(&expected) {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn error_on_continuation_line_names_that_line() {
        let path = fixture("bad-continuation.zone");
        assert_eq!(
            error_of("bad-continuation.zone"),
            format!("{}:6: expected decimal number", path.display())
        );
    }

    #[test]
    fn error_inside_include_names_included_file_and_line() {
        let path = fixture("bad-include.inc");
        assert_eq!(
            error_of("bad-include.zone"),
            format!("{}:3: expected IPv4 address", path.display())
        );
    }

    #[test]
    fn missing_include_names_the_include_line() {
        let zone = fixture("missing-include.zone");
        let inc = fixture("no-such-file.inc");
        assert_eq!(
            error_of("missing-include.zone"),
            format!(
                "{}:5: cannot read $INCLUDE file {}: No such file or directory (os error 2)",
                zone.display(),
                inc.display()
            )
        );
    }

    #[test]
    fn unreadable_zone_file_is_one_line() {
        let path = fixture("absent.zone");
        assert_eq!(
            error_of("absent.zone"),
            format!(
                "{}: cannot read zone file: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn zone_without_soa_is_refused() {
        let path = fixture("no-soa.zone");
        assert_eq!(
            error_of("no-soa.zone"),
            format!(
                "{}:3: no SOA record at the apex example.com.",
                path.display()
            )
        );
    }

    #[test]
    fn second_soa_is_refused() {
        let path = fixture("two-soa.zone");
        assert_eq!(
            error_of("two-soa.zone"),
            format!(
                "{}:5: second SOA record at the apex example.com.",
                path.display()
            )
        );
    }

    #[test]
    fn record_outside_the_zone_is_named() {
        let path = fixture("out-of-zone.zone");
        assert_eq!(
            error_of("out-of-zone.zone"),
            format!(
                "{}:5: www.example.org. is outside the zone example.com.",
                path.display()
            )
        );
    }

    #[test]
    fn cname_beside_other_data_is_refused_whatever_the_case() {
        let path = fixture("cname-and-other.zone");
        assert_eq!(
            error_of("cname-and-other.zone"),
            format!(
                "{}:6: WWW.example.com. has a CNAME and other data (RFC 1034 3.6.2)",
                path.display()
            )
        );
    }

    #[test]
    fn zone_without_apex_ns_is_refused() {
        let path = fixture("no-apex-ns.zone");
        assert_eq!(
            error_of("no-apex-ns.zone"),
            format!(
                "{}:3: no NS record at the apex example.com.",
                path.display()
            )
        );
    }

    #[test]
    fn soa_below_the_apex_is_refused() {
        let src = "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nsub SOA ns hm 1 2 3 4 5\n";
        let err = load_str(src, Path::new("z"), Some("example.com")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "z:4: SOA record at sub.example.com., not at the apex example.com."
        );
    }

    #[test]
    fn origin_flag_serves_a_file_without_origin_and_last_line_without_newline() {
        let src = "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1";
        let zone = load_str(src, Path::new("z"), Some("Example.COM")).unwrap();
        assert_eq!(zone.origin, n("Example.COM."));
        assert_eq!(zone.records.len(), 3);
        assert_eq!(zone.records[2].owner, n("ns.Example.COM."));
    }

    #[test]
    fn apex_comes_from_soa_when_names_are_absolute() {
        let src = "a.test. 60 IN SOA ns.a.test. hm.a.test. 1 2 3 4 5\na.test. 60 NS ns.a.test.\n";
        let zone = load_str(src, Path::new("z"), None).unwrap();
        assert_eq!(zone.origin, n("a.test."));
    }

    #[test]
    fn error_on_last_token_of_a_line_is_not_blamed_on_the_next() {
        let src = "$ORIGIN a.test.\n$TTL 60\nx A 192.0.2\ny A 192.0.2.1\n";
        let err = load_str(src, Path::new("z"), None).unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn include_loop_stops() {
        let dir = std::env::temp_dir().join(format!("dnszone-loop-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("loop.zone");
        fs::write(&path, "$ORIGIN a.test.\n$INCLUDE loop.zone\n").unwrap();
        let err = load(&path, None).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.kind, ZoneErrorKind::IncludeTooDeep);
        assert_eq!(err.line, 2);
    }

    #[test]
    fn synthetic_zone_of_ten_thousand_names_loads() {
        let text = synthetic(10_000);
        let zone = load_str(&text, Path::new("synthetic"), None).unwrap();
        assert_eq!(zone.origin, n("synthetic.test."));
        assert_eq!(zone.records.len(), 10_000 + 3);
        let last = zone.records.last().unwrap();
        assert_eq!(last.owner, n("h9999.synthetic.test."));
        assert_eq!(last.rdata, RData::A([198, 18, 39, 15].into()));
    }
}
