//! The DNS message format (RFC 1035 4), EDNS(0) OPT records (RFC 6891) and unknown types
//! (RFC 3597), as the authoritative server needs them.
//!
//! * [`Rtype`], [`Class`], [`Opcode`], [`Rcode`]: the numbers, with mnemonics.
//! * [`DnsPacket`]: a checked view of the 12-byte header with accessors and setters, and
//!   [`HeaderRepr`], the plain value.
//! * [`Name`]: an uncompressed wire-format name in a fixed array (no allocation), with
//!   [`parse_name`] (follows compression pointers, strictly backwards, with a jump budget),
//!   [`Name::from_ascii`] / `Display` (RFC 1035 5.1 escapes), case folding, suffix tests.
//! * [`question_key`]: the per-query fast path. It reads the one question of a query, and
//!   writes its lowercased wire name into a caller buffer for hashing; anything it does not
//!   handle returns [`WireError::SlowPath`], distinct from the malformed cases (FORMERR).
//! * [`parse_additional_opt`]: the OPT record of a query, if any.
//! * [`parse_question`], [`parse_record`]: the slow path and tests.
//! * [`MessageBuilder`]: writes a response into a caller buffer with name compression
//!   (RFC 1035 4.1.4) and reports [`BuildError::Truncated`] at an RR boundary (RFC 2181 9).
//!
//! Nothing here allocates. Every parser checks lengths before reading and never panics.

use core::fmt;
use core::ops::Range;
use core::str::FromStr;

/// Why a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The message ends inside a field (header, name, question, RR or RDATA).
    Truncated,
    /// A label length byte with the reserved types 0x40 or 0x80 (RFC 1035 4.1.4, RFC 6891
    /// 5): this also covers a "label of 64" or more, which cannot be encoded.
    BadLabel,
    /// The name is longer than 255 octets (RFC 1035 2.3.4).
    NameTooLong,
    /// A compression pointer that does not point strictly before the name part that holds
    /// it (self pointers, forward pointers, loops).
    BadPointer,
    /// More compression pointers in one name than any honest name needs.
    TooManyPointers,
    /// QDCOUNT is not 1 (the value is given).
    QdCount(u16),
    /// An OPT record with a non-root owner or malformed options (RFC 6891 6.1.2).
    BadOpt,
    /// More than one OPT record (RFC 6891 6.1.1: FORMERR).
    DuplicateOpt,
    /// Not malformed as far as the fast path looked, but outside it (a compression pointer
    /// in the question): decode with the slow path.
    SlowPath,
}

impl WireError {
    /// True for everything except [`WireError::SlowPath`]: the answer is FORMERR (or a drop).
    pub const fn is_malformed(self) -> bool {
        !matches!(self, WireError::SlowPath)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated message"),
            WireError::BadLabel => f.write_str("bad label type or length"),
            WireError::NameTooLong => f.write_str("name longer than 255 octets"),
            WireError::BadPointer => f.write_str("compression pointer not pointing backwards"),
            WireError::TooManyPointers => f.write_str("too many compression pointers"),
            WireError::QdCount(n) => write!(f, "QDCOUNT is {n}, not 1"),
            WireError::BadOpt => f.write_str("malformed OPT record"),
            WireError::DuplicateOpt => f.write_str("more than one OPT record"),
            WireError::SlowPath => f.write_str("needs the slow path"),
        }
    }
}

impl std::error::Error for WireError {}

/// The header is 12 octets (RFC 1035 4.1.1).
pub const HEADER_LEN: usize = 12;
/// RFC 1035 2.3.4: 255 octets or less, length octets and the root included.
pub const MAX_NAME_LEN: usize = 255;
/// RFC 1035 2.3.4: 63 octets or less.
pub const MAX_LABEL_LEN: usize = 63;
/// Compression pointers followed in one name at most. A 255-octet name has at most 127
/// labels; honest messages use one pointer per name, chains of a few at most.
pub const MAX_POINTERS: usize = 32;

fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

// ---------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------

/// Defines a u16/u8 newtype with named constants, `Display`/`FromStr` by mnemonic and the
/// RFC 3597 5 generic form (`TYPE123`, `CLASS4`) for the rest.
macro_rules! mnemonic_newtype {
    ($(#[$doc:meta])* $ty:ident($int:ty), $generic:literal, { $($name:ident = $val:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(pub $int);

        impl $ty {
            $(pub const $name: $ty = $ty($val);)*

            /// The mnemonic, if this value has one here.
            pub const fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.mnemonic() {
                    Some(m) => f.write_str(m),
                    None => write!(f, concat!($generic, "{}"), self.0),
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownMnemonic;

            /// Case-insensitive mnemonic, or the generic form.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s.eq_ignore_ascii_case(stringify!($name)) {
                    return Ok($ty::$name);
                })*
                let prefix = s.get(..$generic.len()).unwrap_or("");
                if prefix.eq_ignore_ascii_case($generic) {
                    let digits = &s[$generic.len()..];
                    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                        if let Ok(v) = digits.parse::<$int>() {
                            return Ok($ty(v));
                        }
                    }
                }
                Err(UnknownMnemonic)
            }
        }
    };
}

/// A string that names no type, class or opcode we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownMnemonic;

impl fmt::Display for UnknownMnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown mnemonic")
    }
}

impl std::error::Error for UnknownMnemonic {}

mnemonic_newtype!(
    /// An RR type or QTYPE (RFC 1035 3.2.2, 3.2.3; IANA dns-parameters).
    Rtype(u16), "TYPE", {
        A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28,
        SRV = 33, OPT = 41, DS = 43, CAA = 257, ANY = 255,
    }
);

mnemonic_newtype!(
    /// A CLASS or QCLASS (RFC 1035 3.2.4, 3.2.5).
    Class(u16), "CLASS", { IN = 1, CH = 3, ANY = 255 }
);

impl Rtype {
    /// Types whose RDATA names may be compressed: only the RFC 1035 ones (RFC 3597 4).
    pub const fn compresses_rdata_names(self) -> bool {
        matches!(self.0, 2 | 5 | 6 | 12 | 15)
    }
}

/// The header OPCODE, 4 bits (RFC 1035 4.1.1, RFC 1996, RFC 2136).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    pub const QUERY: Opcode = Opcode(0);
    pub const IQUERY: Opcode = Opcode(1);
    pub const STATUS: Opcode = Opcode(2);
    pub const NOTIFY: Opcode = Opcode(4);
    pub const UPDATE: Opcode = Opcode(5);
}

/// A response code, 12 bits: the low 4 in the header, the high 8 in the OPT record's TTL
/// (RFC 6891 6.1.3). Only the header part exists without EDNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rcode(pub u16);

impl Rcode {
    pub const NOERROR: Rcode = Rcode(0);
    pub const FORMERR: Rcode = Rcode(1);
    pub const SERVFAIL: Rcode = Rcode(2);
    pub const NXDOMAIN: Rcode = Rcode(3);
    pub const NOTIMP: Rcode = Rcode(4);
    pub const REFUSED: Rcode = Rcode(5);
    /// RFC 6891 6.1.3: needs the OPT record to carry its high bits (header 0, extended 1).
    pub const BADVERS: Rcode = Rcode(16);

    /// The 4 bits in the header.
    pub const fn header_bits(self) -> u8 {
        (self.0 & 0x0f) as u8
    }

    /// The 8 bits in the OPT record's TTL.
    pub const fn extended_bits(self) -> u8 {
        ((self.0 >> 4) & 0xff) as u8
    }

    /// The full code from the header bits and the OPT record's extended bits.
    pub const fn from_parts(header: u8, extended: u8) -> Rcode {
        Rcode(((extended as u16) << 4) | (header as u16 & 0x0f))
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            16 => "BADVERS",
            n => return write!(f, "RCODE{n}"),
        };
        f.write_str(name)
    }
}

// ---------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------

mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;

    // Bits of the 16-bit flags word (RFC 1035 4.1.1, RFC 4035 3.2 for AD/CD).
    pub const QR: u16 = 0x8000;
    pub const OPCODE_SHIFT: u16 = 11;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
    pub const RCODE_MASK: u16 = 0x000f;
}

/// The four section counts of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub qd: u16,
    pub an: u16,
    pub ns: u16,
    pub ar: u16,
}

/// A checked view of a DNS message: `new_checked` guarantees the 12-byte header.
#[derive(Debug, Clone)]
pub struct DnsPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DnsPacket<T> {
    /// Wraps a buffer without checks; the accessors panic if it is shorter than 12 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        DnsPacket { buffer }
    }

    /// `Truncated` if the buffer cannot hold the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(DnsPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    #[inline]
    pub fn id(&self) -> u16 {
        self.u16_at(field::ID)
    }

    /// The whole flags word (QR through RCODE).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }

    #[inline]
    pub fn qr(&self) -> bool {
        self.flags() & field::QR != 0
    }

    #[inline]
    pub fn opcode(&self) -> Opcode {
        Opcode(((self.flags() & field::OPCODE_MASK) >> field::OPCODE_SHIFT) as u8)
    }

    #[inline]
    pub fn aa(&self) -> bool {
        self.flags() & field::AA != 0
    }

    #[inline]
    pub fn tc(&self) -> bool {
        self.flags() & field::TC != 0
    }

    #[inline]
    pub fn rd(&self) -> bool {
        self.flags() & field::RD != 0
    }

    #[inline]
    pub fn ra(&self) -> bool {
        self.flags() & field::RA != 0
    }

    #[inline]
    pub fn ad(&self) -> bool {
        self.flags() & field::AD != 0
    }

    #[inline]
    pub fn cd(&self) -> bool {
        self.flags() & field::CD != 0
    }

    /// The header's 4 RCODE bits only (see [`Rcode::from_parts`] for the extended code).
    #[inline]
    pub fn rcode(&self) -> u8 {
        (self.flags() & field::RCODE_MASK) as u8
    }

    #[inline]
    pub fn qdcount(&self) -> u16 {
        self.u16_at(field::QDCOUNT)
    }

    #[inline]
    pub fn ancount(&self) -> u16 {
        self.u16_at(field::ANCOUNT)
    }

    #[inline]
    pub fn nscount(&self) -> u16 {
        self.u16_at(field::NSCOUNT)
    }

    #[inline]
    pub fn arcount(&self) -> u16 {
        self.u16_at(field::ARCOUNT)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            qd: self.qdcount(),
            an: self.ancount(),
            ns: self.nscount(),
            ar: self.arcount(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DnsPacket<T> {
    fn set_u16_at(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    fn set_flag(&mut self, bit: u16, on: bool) {
        let flags = self.flags();
        self.set_flags(if on { flags | bit } else { flags & !bit });
    }

    #[inline]
    pub fn set_id(&mut self, id: u16) {
        self.set_u16_at(field::ID, id);
    }

    #[inline]
    pub fn set_flags(&mut self, flags: u16) {
        self.set_u16_at(field::FLAGS, flags);
    }

    #[inline]
    pub fn set_qr(&mut self, on: bool) {
        self.set_flag(field::QR, on);
    }

    #[inline]
    pub fn set_opcode(&mut self, opcode: Opcode) {
        let flags = self.flags() & !field::OPCODE_MASK;
        let bits = ((opcode.0 as u16) << field::OPCODE_SHIFT) & field::OPCODE_MASK;
        self.set_flags(flags | bits);
    }

    #[inline]
    pub fn set_aa(&mut self, on: bool) {
        self.set_flag(field::AA, on);
    }

    #[inline]
    pub fn set_tc(&mut self, on: bool) {
        self.set_flag(field::TC, on);
    }

    #[inline]
    pub fn set_rd(&mut self, on: bool) {
        self.set_flag(field::RD, on);
    }

    #[inline]
    pub fn set_ra(&mut self, on: bool) {
        self.set_flag(field::RA, on);
    }

    #[inline]
    pub fn set_ad(&mut self, on: bool) {
        self.set_flag(field::AD, on);
    }

    #[inline]
    pub fn set_cd(&mut self, on: bool) {
        self.set_flag(field::CD, on);
    }

    /// Writes the low 4 bits of `rcode`; the rest belongs in the OPT record.
    #[inline]
    pub fn set_rcode(&mut self, rcode: Rcode) {
        let flags = self.flags() & !field::RCODE_MASK;
        self.set_flags(flags | rcode.header_bits() as u16);
    }

    #[inline]
    pub fn set_qdcount(&mut self, n: u16) {
        self.set_u16_at(field::QDCOUNT, n);
    }

    #[inline]
    pub fn set_ancount(&mut self, n: u16) {
        self.set_u16_at(field::ANCOUNT, n);
    }

    #[inline]
    pub fn set_nscount(&mut self, n: u16) {
        self.set_u16_at(field::NSCOUNT, n);
    }

    #[inline]
    pub fn set_arcount(&mut self, n: u16) {
        self.set_u16_at(field::ARCOUNT, n);
    }

    pub fn set_counts(&mut self, c: Counts) {
        self.set_qdcount(c.qd);
        self.set_ancount(c.an);
        self.set_nscount(c.ns);
        self.set_arcount(c.ar);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for DnsPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub id: u16,
    pub qr: bool,
    pub opcode: Opcode,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub ad: bool,
    pub cd: bool,
    /// Only the header's 4 bits are parsed and emitted.
    pub rcode: Rcode,
    pub counts: Counts,
}

impl HeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(packet: &DnsPacket<T>) -> HeaderRepr {
        HeaderRepr {
            id: packet.id(),
            qr: packet.qr(),
            opcode: packet.opcode(),
            aa: packet.aa(),
            tc: packet.tc(),
            rd: packet.rd(),
            ra: packet.ra(),
            ad: packet.ad(),
            cd: packet.cd(),
            rcode: Rcode(packet.rcode() as u16),
            counts: packet.counts(),
        }
    }

    /// Writes every field; the Z bit is cleared.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DnsPacket<T>) {
        packet.set_id(self.id);
        packet.set_flags(self.flags());
        packet.set_counts(self.counts);
    }

    /// The flags word these fields make.
    pub fn flags(&self) -> u16 {
        let bit = |on: bool, b: u16| if on { b } else { 0 };
        bit(self.qr, field::QR)
            | (((self.opcode.0 as u16) << field::OPCODE_SHIFT) & field::OPCODE_MASK)
            | bit(self.aa, field::AA)
            | bit(self.tc, field::TC)
            | bit(self.rd, field::RD)
            | bit(self.ra, field::RA)
            | bit(self.ad, field::AD)
            | bit(self.cd, field::CD)
            | self.rcode.header_bits() as u16
    }
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

/// A domain name in uncompressed wire form (length-prefixed labels ending with the root's
/// zero octet), in a fixed 255-byte array. Equality and hashing are byte-exact, so case
/// matters; use [`Name::eq_ignore_case`] or [`Name::to_lowercase`] for DNS comparison.
#[derive(Clone)]
pub struct Name {
    len: u8,
    wire: [u8; MAX_NAME_LEN],
}

/// Why a text name was rejected by [`Name::from_ascii`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// An empty label (`a..b`, a leading dot, or an empty string).
    EmptyLabel,
    /// A label over 63 octets.
    LabelTooLong,
    /// More than 255 octets in wire form.
    NameTooLong,
    /// A backslash at the end, or `\DDD` that is not three digits of at most 255.
    BadEscape,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::EmptyLabel => "empty label in name",
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
            NameError::BadEscape => "bad escape in name",
        })
    }
}

impl std::error::Error for NameError {}

impl Name {
    /// The root name `.`.
    pub const fn root() -> Name {
        Name {
            len: 1,
            wire: [0; MAX_NAME_LEN],
        }
    }

    /// The wire form, root octet included.
    #[inline]
    pub fn as_wire(&self) -> &[u8] {
        &self.wire[..self.len as usize]
    }

    /// Length of the wire form (1 for the root).
    #[inline]
    #[allow(clippy::len_without_is_empty)] // a name is never empty: the root is 1 octet
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_root(&self) -> bool {
        self.len == 1
    }

    /// Checks an uncompressed wire name that must fill `wire` exactly.
    pub fn from_wire(wire: &[u8]) -> Result<Name, WireError> {
        let (name, end) = parse_name(wire, 0)?;
        if end != wire.len() {
            return Err(WireError::BadLabel);
        }
        Ok(name)
    }

    /// Parses presentation format (RFC 1035 5.1): dot-separated labels, `\X` for a literal
    /// character X (`\.` is a dot inside a label), `\DDD` for the octet with decimal value
    /// DDD. The name is absolute whether or not it ends with a dot; `.` is the root.
    /// Relative names and `@` are the zone loader's business.
    pub fn from_ascii(text: &str) -> Result<Name, NameError> {
        let s = text.as_bytes();
        if s == b"." {
            return Ok(Name::root());
        }
        if s.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        let mut name = Name::root();
        let mut out = 0usize; // where the current label's length octet goes
        let mut label_len = 0usize;
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'.' => {
                    if label_len == 0 {
                        return Err(NameError::EmptyLabel);
                    }
                    name.wire[out] = label_len as u8;
                    out += label_len + 1;
                    label_len = 0;
                    i += 1;
                }
                b'\\' => {
                    let next = *s.get(i + 1).ok_or(NameError::BadEscape)?;
                    if next.is_ascii_digit() {
                        let digits = s.get(i + 1..i + 4).ok_or(NameError::BadEscape)?;
                        if !digits.iter().all(u8::is_ascii_digit) {
                            return Err(NameError::BadEscape);
                        }
                        let value = digits.iter().fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
                        let byte = u8::try_from(value).map_err(|_| NameError::BadEscape)?;
                        push_octet(&mut name, out, &mut label_len, byte)?;
                        i += 4;
                    } else {
                        push_octet(&mut name, out, &mut label_len, next)?;
                        i += 2;
                    }
                }
                b => {
                    push_octet(&mut name, out, &mut label_len, b)?;
                    i += 1;
                }
            }
        }
        if label_len > 0 {
            name.wire[out] = label_len as u8;
            out += label_len + 1;
        }
        // `out` is where the root octet goes; `push_octet` kept it within the array.
        name.wire[out] = 0;
        name.len = (out + 1) as u8;
        Ok(name)
    }

    /// Labels from the leftmost, without length octets, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: self.as_wire(),
            pos: 0,
        }
    }

    /// Number of labels, root excluded.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The same name in ASCII lowercase (RFC 4343: only A-Z fold).
    pub fn to_lowercase(&self) -> Name {
        let mut name = self.clone();
        name.make_lowercase();
        name
    }

    /// Folds A-Z in place. Length octets are at most 63, below `A` (65), so the whole wire
    /// form folds without walking the labels.
    pub fn make_lowercase(&mut self) {
        let len = self.len();
        self.wire[..len].make_ascii_lowercase();
    }

    /// DNS equality: ASCII case-insensitive.
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.as_wire().eq_ignore_ascii_case(other.as_wire())
    }

    /// True if `self` is `other` or below it (case-insensitive, on label boundaries).
    pub fn is_subdomain_of(&self, other: &Name) -> bool {
        let (me, them) = (self.as_wire(), other.as_wire());
        if them.len() > me.len() {
            return false;
        }
        let start = me.len() - them.len();
        // `start` must be a label boundary of self.
        let mut pos = 0;
        while pos < start {
            pos += me[pos] as usize + 1;
        }
        pos == start && me[start..].eq_ignore_ascii_case(them)
    }

    /// The name with its leftmost label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = self.wire[0] as usize + 1;
        let mut name = Name::root();
        let len = self.len() - skip;
        name.wire[..len].copy_from_slice(&self.wire[skip..self.len()]);
        name.len = len as u8;
        Some(name)
    }
}

/// Appends one octet to the label whose length octet is at `out`, keeping room for the
/// root octet after it.
fn push_octet(name: &mut Name, out: usize, label_len: &mut usize, b: u8) -> Result<(), NameError> {
    if *label_len == MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong);
    }
    *label_len += 1;
    // Length octet, the label so far, and the root octet.
    if out + 1 + *label_len + 1 > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    name.wire[out + *label_len] = b;
    Ok(())
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_wire() == other.as_wire()
    }
}

impl Eq for Name {}

impl core::hash::Hash for Name {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_wire().hash(state);
    }
}

impl fmt::Display for Name {
    /// Presentation format with a trailing dot; escapes so that [`Name::from_ascii`] reads
    /// back the same octets: `\X` for `.`, `\`, and the zone-file specials, `\DDD` for
    /// anything outside printable ASCII.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", b as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::from_ascii(s)
    }
}

/// Iterator over a name's labels; see [`Name::labels`].
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.get(self.pos)? as usize;
        if len == 0 {
            return None;
        }
        let label = self.wire.get(self.pos + 1..self.pos + 1 + len)?;
        self.pos += len + 1;
        Some(label)
    }
}

/// Reads the (possibly compressed) name at `offset` of `msg` and returns it uncompressed
/// with the offset after it in the message (after the first pointer, if any).
///
/// RFC 1035 4.1.4 pointers are followed only when they point strictly before the start of
/// the name part being read (the name's first octet, or the previous pointer's target), so
/// no octet is read twice and loops are impossible; [`MAX_POINTERS`] bounds the chain.
pub fn parse_name(msg: &[u8], offset: usize) -> Result<(Name, usize), WireError> {
    let mut name = Name::root();
    let mut out = 0usize;
    let mut pos = offset;
    let mut segment_start = offset;
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or(WireError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                let len = len as usize;
                // A label needs the root octet after it as well.
                if out + 1 + len + usize::from(len != 0) > MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
                if len == 0 {
                    name.wire[out] = 0;
                    name.len = (out + 1) as u8;
                    return Ok((name, end.unwrap_or(pos + 1)));
                }
                let label = msg.get(pos..pos + 1 + len).ok_or(WireError::Truncated)?;
                name.wire[out..out + 1 + len].copy_from_slice(label);
                out += 1 + len;
                pos += 1 + len;
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(WireError::Truncated)?;
                let target = (((len & 0x3f) as usize) << 8) | low as usize;
                if target >= segment_start {
                    return Err(WireError::BadPointer);
                }
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(WireError::TooManyPointers);
                }
                end.get_or_insert(pos + 2);
                pos = target;
                segment_start = target;
            }
            _ => return Err(WireError::BadLabel),
        }
    }
}

/// Steps over the name at `pos` without decompressing it: labels up to the root or up to
/// and including one pointer (whose target is not checked, it is not read).
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, WireError> {
    let start = pos;
    loop {
        let len = *msg.get(pos).ok_or(WireError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                pos += 1 + len as usize;
                if pos - start >= MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
            }
            0xc0 => {
                if pos + 2 > msg.len() {
                    return Err(WireError::Truncated);
                }
                return Ok(pos + 2);
            }
            _ => return Err(WireError::BadLabel),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------

/// The one question of a query, as [`question_key`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question<'a> {
    /// The question exactly as sent (name in the sender's case, QTYPE, QCLASS): what a
    /// response copies back.
    pub raw: &'a [u8],
    /// The wire name's length, root octet included; the key is `key[..name_len]`.
    pub name_len: usize,
    pub qtype: Rtype,
    pub qclass: Class,
    /// Offset just after the question in the message.
    pub end: usize,
}

/// The per-query fast path: checks the header and QDCOUNT == 1, reads the question at
/// offset 12 and writes its lowercased wire name into `key` for hashing.
///
/// Returns [`WireError::SlowPath`] for a compression pointer in the question name (legal,
/// but queries never need one); every other error is malformed input (FORMERR). The
/// header's other fields (QR, opcode) are the caller's to judge.
#[inline]
pub fn question_key<'a>(
    msg: &'a [u8],
    key: &mut [u8; MAX_NAME_LEN],
) -> Result<Question<'a>, WireError> {
    let packet = DnsPacket::new_checked(msg)?;
    let qd = packet.qdcount();
    if qd != 1 {
        return Err(WireError::QdCount(qd));
    }
    let mut pos = HEADER_LEN;
    loop {
        let len = *msg.get(pos).ok_or(WireError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                let next = pos + 1 + len as usize;
                // A label needs the root octet after it as well.
                if next - HEADER_LEN + usize::from(len != 0) > MAX_NAME_LEN {
                    return Err(WireError::NameTooLong);
                }
                pos = next;
                if len == 0 {
                    break;
                }
            }
            0xc0 => return Err(WireError::SlowPath),
            _ => return Err(WireError::BadLabel),
        }
    }
    let name_len = pos - HEADER_LEN;
    let end = pos + 4;
    let raw = msg.get(HEADER_LEN..end).ok_or(WireError::Truncated)?;
    key[..name_len].copy_from_slice(&raw[..name_len]);
    // Length octets are <= 63, below b'A', so folding the whole name is safe.
    key[..name_len].make_ascii_lowercase();
    Ok(Question {
        raw,
        name_len,
        qtype: Rtype(u16::from_be_bytes([raw[name_len], raw[name_len + 1]])),
        qclass: Class(u16::from_be_bytes([raw[name_len + 2], raw[name_len + 3]])),
        end,
    })
}

/// A question decoded by the slow path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionRepr {
    pub name: Name,
    pub qtype: Rtype,
    pub qclass: Class,
}

/// Reads a question at `offset` (name possibly compressed); returns it and the offset after.
pub fn parse_question(msg: &[u8], offset: usize) -> Result<(QuestionRepr, usize), WireError> {
    let (name, pos) = parse_name(msg, offset)?;
    let qtype = read_u16(msg, pos).ok_or(WireError::Truncated)?;
    let qclass = read_u16(msg, pos + 2).ok_or(WireError::Truncated)?;
    let q = QuestionRepr {
        name,
        qtype: Rtype(qtype),
        qclass: Class(qclass),
    };
    Ok((q, pos + 4))
}

/// A resource record read by [`parse_record`]; the RDATA stays in the message (names in
/// it may be compressed: read them with [`parse_name`] at offsets inside `rdata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRepr {
    pub name: Name,
    pub rtype: Rtype,
    pub class: Class,
    pub ttl: u32,
    /// The RDATA's range in the message.
    pub rdata: Range<usize>,
}

/// Reads the RR at `offset`; returns it and the offset after it.
pub fn parse_record(msg: &[u8], offset: usize) -> Result<(RecordRepr, usize), WireError> {
    let (name, pos) = parse_name(msg, offset)?;
    let (rtype, class, ttl, rdata) = rr_fixed(msg, pos)?;
    let end = rdata.end;
    let rr = RecordRepr {
        name,
        rtype,
        class,
        ttl,
        rdata,
    };
    Ok((rr, end))
}

/// TYPE, CLASS, TTL and the RDATA range of the RR whose fixed part starts at `pos`.
fn rr_fixed(msg: &[u8], pos: usize) -> Result<(Rtype, Class, u32, Range<usize>), WireError> {
    let rtype = read_u16(msg, pos).ok_or(WireError::Truncated)?;
    let class = read_u16(msg, pos + 2).ok_or(WireError::Truncated)?;
    let ttl = read_u32(msg, pos + 4).ok_or(WireError::Truncated)?;
    let rdlen = read_u16(msg, pos + 8).ok_or(WireError::Truncated)? as usize;
    let start = pos + 10;
    if start + rdlen > msg.len() {
        return Err(WireError::Truncated);
    }
    Ok((Rtype(rtype), Class(class), ttl, start..start + rdlen))
}

/// The EDNS(0) parameters of a query's OPT record (RFC 6891 6.1.2, 6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns<'a> {
    /// The requestor's UDP payload size (the OPT CLASS field), as sent; RFC 6891 6.2.5
    /// says to treat values below 512 as 512, which is the caller's policy.
    pub udp_size: u16,
    /// The upper 8 bits of the extended RCODE.
    pub ext_rcode: u8,
    pub version: u8,
    /// DO, "DNSSEC answer OK" (RFC 3225).
    pub dnssec_ok: bool,
    /// The remaining 15 flag bits (Z), as sent.
    pub z: u16,
    /// The RDATA: the options, checked to be well-formed code/length/value triples.
    pub options: &'a [u8],
    /// Where the OPT record starts in the message.
    pub offset: usize,
}

impl<'a> Edns<'a> {
    /// The options as (code, data).
    pub fn options(&self) -> EdnsOptions<'a> {
        EdnsOptions { rest: self.options }
    }
}

/// Iterator over EDNS options; see [`Edns::options`].
#[derive(Debug, Clone)]
pub struct EdnsOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for EdnsOptions<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let code = read_u16(self.rest, 0)?;
        let len = read_u16(self.rest, 2)? as usize;
        let data = self.rest.get(4..4 + len)?;
        self.rest = &self.rest[4 + len..];
        Some((code, data))
    }
}

/// Finds the OPT record of a query (RFC 6891 6.1.1): steps over the answer and authority
/// records (tolerated in a query, not used) and reads the additional section. `None` if
/// there is no OPT record. More than one OPT is [`WireError::DuplicateOpt`]; an OPT with a
/// non-root owner or options that do not fill its RDATA exactly is [`WireError::BadOpt`].
/// Octets after the last counted record are ignored.
pub fn parse_additional_opt(
    msg: &[u8],
    after_question: usize,
    counts: Counts,
) -> Result<Option<Edns<'_>>, WireError> {
    let mut pos = after_question;
    for _ in 0..(counts.an as u32 + counts.ns as u32) {
        let fixed = skip_name(msg, pos)?;
        pos = rr_fixed(msg, fixed)?.3.end;
    }
    let mut found = None;
    for _ in 0..counts.ar {
        let start = pos;
        let fixed = skip_name(msg, pos)?;
        let (rtype, class, ttl, rdata) = rr_fixed(msg, fixed)?;
        pos = rdata.end;
        if rtype != Rtype::OPT {
            continue;
        }
        if found.is_some() {
            return Err(WireError::DuplicateOpt);
        }
        if fixed != start + 1 || msg[start] != 0 {
            return Err(WireError::BadOpt);
        }
        let options = &msg[rdata];
        if !options_well_formed(options) {
            return Err(WireError::BadOpt);
        }
        let [ext_rcode, version, flags_hi, flags_lo] = ttl.to_be_bytes();
        let flags = u16::from_be_bytes([flags_hi, flags_lo]);
        found = Some(Edns {
            udp_size: class.0,
            ext_rcode,
            version,
            dnssec_ok: flags & 0x8000 != 0,
            z: flags & 0x7fff,
            options,
            offset: start,
        });
    }
    Ok(found)
}

fn options_well_formed(mut rest: &[u8]) -> bool {
    while !rest.is_empty() {
        let Some(len) = read_u16(rest, 2) else {
            return false;
        };
        let Some(tail) = rest.get(4 + len as usize..) else {
            return false;
        };
        rest = tail;
    }
    true
}

// ---------------------------------------------------------------------------------------
// Building responses
// ---------------------------------------------------------------------------------------

/// The sections records go into, in the order they must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Question,
    Answer,
    Authority,
    Additional,
}

/// RDATA for [`MessageBuilder::rr`]: the types with names inside are structured so the
/// names can be compressed (RFC 1035 types only, RFC 3597 4); everything else is raw.
#[derive(Debug, Clone, Copy)]
pub enum RData<'a> {
    A([u8; 4]),
    Aaaa([u8; 16]),
    Ns(&'a Name),
    Cname(&'a Name),
    Ptr(&'a Name),
    Mx {
        preference: u16,
        exchange: &'a Name,
    },
    Soa {
        mname: &'a Name,
        rname: &'a Name,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    /// RFC 2782: the target is never compressed.
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: &'a Name,
    },
    /// Any other type (TXT, CAA, DS, unknown), written as given.
    Raw(&'a [u8]),
}

/// Why a builder call wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The record does not fit the buffer; the message is as it was before the call (an RR
    /// boundary, RFC 2181 9), so the caller can set TC and finish.
    Truncated,
    /// A record for an earlier section than one already written.
    SectionOrder,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::Truncated => "response does not fit the buffer",
            BuildError::SectionOrder => "record written after a later section",
        })
    }
}

impl std::error::Error for BuildError {}

/// Names remembered for compression.
pub const COMPRESSION_ENTRIES: usize = 64;

/// Writes a message into a caller buffer. Names in the question, owners and the RDATA of
/// NS, CNAME, PTR, MX and SOA are compressed against the names written before (matching
/// case-insensitively, label by label, so a pointer may carry another name's case, as DNS
/// allows). Nothing allocates.
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    counts: [u16; 4],
    section: Section,
    /// Offsets of labels written out literally, each the start of a name suffix.
    table: [u16; COMPRESSION_ENTRIES],
    entries: usize,
}

impl<'b> MessageBuilder<'b> {
    /// Starts a message with a zeroed header; `Truncated` if `buf` is under 12 bytes.
    pub fn new(buf: &'b mut [u8]) -> Result<Self, BuildError> {
        if buf.len() < HEADER_LEN {
            return Err(BuildError::Truncated);
        }
        buf[..HEADER_LEN].fill(0);
        Ok(MessageBuilder {
            buf,
            len: HEADER_LEN,
            counts: [0; 4],
            section: Section::Question,
            table: [0; COMPRESSION_ENTRIES],
            entries: 0,
        })
    }

    /// Sets id and flags from `header`; the counts are the builder's and `header.counts` is
    /// ignored.
    pub fn header(&mut self, header: &HeaderRepr) {
        let mut packet = DnsPacket::new_unchecked(&mut self.buf[..HEADER_LEN]);
        packet.set_id(header.id);
        packet.set_flags(header.flags());
    }

    /// Sets or clears TC, e.g. after a [`BuildError::Truncated`].
    pub fn set_tc(&mut self, tc: bool) {
        DnsPacket::new_unchecked(&mut self.buf[..HEADER_LEN]).set_tc(tc);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True until something after the header is written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Adds a question.
    pub fn question(&mut self, name: &Name, qtype: Rtype, qclass: Class) -> Result<(), BuildError> {
        self.record(Section::Question, |b| {
            b.name(name, true)?;
            b.put(&qtype.0.to_be_bytes())?;
            b.put(&qclass.0.to_be_bytes())
        })
    }

    /// Adds a resource record to `section` (Answer, Authority or Additional; sections must
    /// not go backwards).
    pub fn rr(
        &mut self,
        section: Section,
        name: &Name,
        rtype: Rtype,
        class: Class,
        ttl: u32,
        rdata: &RData<'_>,
    ) -> Result<(), BuildError> {
        if section == Section::Question {
            return Err(BuildError::SectionOrder);
        }
        self.record(section, |b| {
            b.name(name, true)?;
            b.put(&rtype.0.to_be_bytes())?;
            b.put(&class.0.to_be_bytes())?;
            b.put(&ttl.to_be_bytes())?;
            let rdlen_at = b.len;
            b.put(&[0, 0])?;
            b.rdata(rdata)?;
            let rdlen = u16::try_from(b.len - rdlen_at - 2).map_err(|_| BuildError::Truncated)?;
            b.buf[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
            Ok(())
        })
    }

    /// Adds an OPT record (RFC 6891 6.1.2) to the additional section, with no options.
    pub fn opt(
        &mut self,
        udp_size: u16,
        ext_rcode: u8,
        version: u8,
        do_bit: bool,
    ) -> Result<(), BuildError> {
        self.record(Section::Additional, |b| {
            b.put(&[0])?;
            b.put(&Rtype::OPT.0.to_be_bytes())?;
            b.put(&udp_size.to_be_bytes())?;
            let flags: u16 = if do_bit { 0x8000 } else { 0 };
            let [hi, lo] = flags.to_be_bytes();
            b.put(&[ext_rcode, version, hi, lo])?;
            b.put(&[0, 0])
        })
    }

    /// Writes the counts and returns the message length.
    pub fn finish(self) -> usize {
        let [qd, an, ns, ar] = self.counts;
        let mut packet = DnsPacket::new_unchecked(&mut self.buf[..HEADER_LEN]);
        packet.set_counts(Counts { qd, an, ns, ar });
        self.len
    }

    /// Runs `write` as one record of `section`: on any error, everything it wrote
    /// (bytes and compression entries) is undone.
    fn record(
        &mut self,
        section: Section,
        write: impl FnOnce(&mut Self) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        if section < self.section {
            return Err(BuildError::SectionOrder);
        }
        let (len, entries) = (self.len, self.entries);
        if let Err(e) = write(self) {
            self.len = len;
            self.entries = entries;
            return Err(e);
        }
        self.section = section;
        let count = &mut self.counts[section as usize];
        *count = count.saturating_add(1);
        Ok(())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        let end = self.len + bytes.len();
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(BuildError::Truncated)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn rdata(&mut self, rdata: &RData<'_>) -> Result<(), BuildError> {
        match *rdata {
            RData::A(addr) => self.put(&addr),
            RData::Aaaa(addr) => self.put(&addr),
            RData::Ns(n) | RData::Cname(n) | RData::Ptr(n) => self.name(n, true),
            RData::Mx {
                preference,
                exchange,
            } => {
                self.put(&preference.to_be_bytes())?;
                self.name(exchange, true)
            }
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname, true)?;
                self.name(rname, true)?;
                for v in [serial, refresh, retry, expire, minimum] {
                    self.put(&v.to_be_bytes())?;
                }
                Ok(())
            }
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                for v in [priority, weight, port] {
                    self.put(&v.to_be_bytes())?;
                }
                self.name(target, false)
            }
            RData::Raw(bytes) => self.put(bytes),
        }
    }

    /// Writes `name`, with a pointer to the longest suffix already in the message when
    /// `compress`; the labels written literally become compression targets.
    fn name(&mut self, name: &Name, compress: bool) -> Result<(), BuildError> {
        let wire = name.as_wire();
        let mut literal_end = wire.len() - 1; // without a match, everything but the root
        let mut pointer = None;
        if compress {
            let mut at = 0;
            while wire[at] != 0 {
                if let Some(target) = self.find(&wire[at..]) {
                    literal_end = at;
                    pointer = Some(target);
                    break;
                }
                at += wire[at] as usize + 1;
            }
        }
        let start = self.len;
        self.put(&wire[..literal_end])?;
        match pointer {
            Some(target) => self.put(&(0xc000 | target).to_be_bytes())?,
            None => self.put(&[0])?,
        }
        if compress {
            let mut at = 0;
            while at < literal_end {
                let offset = start + at;
                // RFC 1035 4.1.4: a pointer holds a 14-bit offset.
                if offset < 0x4000 && self.entries < COMPRESSION_ENTRIES {
                    self.table[self.entries] = offset as u16;
                    self.entries += 1;
                }
                at += wire[at] as usize + 1;
            }
        }
        Ok(())
    }

    /// The offset of a remembered name equal (ignoring case) to `suffix`, a wire name.
    fn find(&self, suffix: &[u8]) -> Option<u16> {
        let msg = &self.buf[..self.len];
        self.table[..self.entries]
            .iter()
            .copied()
            .find(|&offset| name_at_equals(msg, offset as usize, suffix))
    }
}

/// True if the name at `pos` in a message we wrote equals `wire` ignoring ASCII case.
fn name_at_equals(msg: &[u8], mut pos: usize, wire: &[u8]) -> bool {
    let mut at = 0;
    // Our own pointers only go backwards, but stay bounded anyway.
    for _ in 0..MAX_NAME_LEN {
        let Some(&len) = msg.get(pos) else {
            return false;
        };
        if len & 0xc0 == 0xc0 {
            let Some(&low) = msg.get(pos + 1) else {
                return false;
            };
            pos = (((len & 0x3f) as usize) << 8) | low as usize;
            continue;
        }
        let n = len as usize + 1;
        let (Some(ours), Some(theirs)) = (msg.get(pos..pos + n), wire.get(at..at + n)) else {
            return false;
        };
        if !ours.eq_ignore_ascii_case(theirs) {
            return false;
        }
        if len == 0 {
            return true;
        }
        pos += n;
        at += n;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// `dig example.com A +noedns`: id 0x1234, RD.
    static QUERY_EXAMPLE_A: [u8; 29] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header
        0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, // name
        0x00, 0x01, 0x00, 0x01, // A IN
    ];

    /// `dig ExAmPle.CoM A`: id 0xbeef, RD, AD, and dig's OPT: size 1232, DO clear, a
    /// COOKIE option (10) with an 8-byte client cookie.
    static QUERY_MIXED_EDNS: [u8; 52] = [
        0xbe, 0xef, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // header
        0x07, b'E', b'x', b'A', b'm', b'P', b'l', b'e', 0x03, b'C', b'o', b'M', 0x00, // name
        0x00, 0x01, 0x00, 0x01, // A IN
        0x00, // OPT owner: root
        0x00, 0x29, 0x04, 0xd0, // OPT, 1232
        0x00, 0x00, 0x00, 0x00, // ext rcode, version, flags
        0x00, 0x0c, // rdlength 12
        0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, // COOKIE
    ];

    fn header(id: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
        let mut h = vec![(id >> 8) as u8, id as u8, 0x01, 0x00];
        for c in [qd, an, ns, ar] {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h
    }

    #[test]
    fn header_view_reads_and_writes_fields() {
        let p = DnsPacket::new_checked(&QUERY_MIXED_EDNS[..]).unwrap();
        assert_eq!(p.id(), 0xbeef);
        assert!(!p.qr() && p.rd() && p.ad() && !p.aa() && !p.tc() && !p.cd());
        assert_eq!(p.opcode(), Opcode::QUERY);
        assert_eq!(
            p.counts(),
            Counts {
                qd: 1,
                an: 0,
                ns: 0,
                ar: 1
            }
        );

        let mut buf = QUERY_EXAMPLE_A;
        let mut p = DnsPacket::new_checked(&mut buf[..]).unwrap();
        p.set_qr(true);
        p.set_aa(true);
        p.set_opcode(Opcode::NOTIFY);
        p.set_rcode(Rcode::BADVERS); // header part of 16 is 0
        p.set_rcode(Rcode::NXDOMAIN);
        p.set_ancount(2);
        assert_eq!(&buf[2..4], &[0x80 | 0x20 | 0x04 | 0x01, 0x03]);
        assert_eq!(&buf[6..8], &[0, 2]);

        let p = DnsPacket::new_checked(&buf[..]).unwrap();
        let repr = HeaderRepr::parse(&p);
        let mut out = [0u8; 12];
        repr.emit(&mut DnsPacket::new_unchecked(&mut out[..]));
        assert_eq!(out, buf[..12]);
    }

    #[test]
    fn truncated_header_is_rejected() {
        assert_eq!(
            DnsPacket::new_checked(&QUERY_EXAMPLE_A[..11]).unwrap_err(),
            WireError::Truncated
        );
        let mut key = [0; 255];
        assert_eq!(
            question_key(&QUERY_EXAMPLE_A[..5], &mut key),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn rcode_splits_between_header_and_opt() {
        assert_eq!(Rcode::BADVERS.header_bits(), 0);
        assert_eq!(Rcode::BADVERS.extended_bits(), 1);
        assert_eq!(Rcode::from_parts(0, 1), Rcode::BADVERS);
        assert_eq!(Rcode::from_parts(3, 0), Rcode::NXDOMAIN);
        assert_eq!(Rcode::BADVERS.to_string(), "BADVERS");
    }

    #[test]
    fn types_and_classes_by_mnemonic() {
        assert_eq!(Rtype::AAAA.to_string(), "AAAA");
        assert_eq!(Rtype(65280).to_string(), "TYPE65280");
        assert_eq!("caa".parse::<Rtype>(), Ok(Rtype::CAA));
        assert_eq!("TYPE257".parse::<Rtype>(), Ok(Rtype::CAA));
        assert_eq!("ANY".parse::<Rtype>(), Ok(Rtype(255)));
        assert!("TYPE".parse::<Rtype>().is_err());
        assert!("TYPE70000".parse::<Rtype>().is_err());
        assert!("BOGUS".parse::<Rtype>().is_err());
        assert_eq!("ch".parse::<Class>(), Ok(Class::CH));
        assert_eq!(Class(4).to_string(), "CLASS4");
        assert!(Rtype::MX.compresses_rdata_names() && !Rtype::SRV.compresses_rdata_names());
    }

    #[test]
    fn fast_path_reads_plain_query() {
        let mut key = [0; 255];
        let q = question_key(&QUERY_EXAMPLE_A, &mut key).unwrap();
        assert_eq!(q.raw, &QUERY_EXAMPLE_A[12..]);
        assert_eq!(q.name_len, 13);
        assert_eq!(&key[..13], &QUERY_EXAMPLE_A[12..25]);
        assert_eq!((q.qtype, q.qclass, q.end), (Rtype::A, Class::IN, 29));
        let counts = DnsPacket::new_checked(&QUERY_EXAMPLE_A[..])
            .unwrap()
            .counts();
        assert_eq!(
            parse_additional_opt(&QUERY_EXAMPLE_A, q.end, counts),
            Ok(None)
        );
    }

    #[test]
    fn fast_path_lowercases_key_and_keeps_raw_case() {
        let mut key = [0; 255];
        let q = question_key(&QUERY_MIXED_EDNS, &mut key).unwrap();
        assert_eq!(&q.raw[..13], &QUERY_MIXED_EDNS[12..25]);
        assert_eq!(&key[..q.name_len], &QUERY_EXAMPLE_A[12..25]);
        assert_eq!(q.end, 29);

        let counts = DnsPacket::new_checked(&QUERY_MIXED_EDNS[..])
            .unwrap()
            .counts();
        let edns = parse_additional_opt(&QUERY_MIXED_EDNS, q.end, counts)
            .unwrap()
            .unwrap();
        assert_eq!(edns.udp_size, 1232);
        assert_eq!(
            (edns.ext_rcode, edns.version, edns.dnssec_ok),
            (0, 0, false)
        );
        assert_eq!(edns.offset, 29);
        let opts: Vec<_> = edns.options().collect();
        assert_eq!(opts, vec![(10, &[1u8, 2, 3, 4, 5, 6, 7, 8][..])]);
    }

    #[test]
    fn fast_path_sends_compressed_question_to_slow_path() {
        // "www" then a pointer: the fast path declines without judging the pointer; the
        // slow path finds it points at its own name.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0x03, b'w', b'w', b'w', 0xc0, 0x0c, 0, 1, 0, 1]);
        let mut key = [0; 255];
        assert_eq!(question_key(&msg, &mut key), Err(WireError::SlowPath));
        assert!(!WireError::SlowPath.is_malformed());
        assert_eq!(parse_question(&msg, 12).unwrap_err(), WireError::BadPointer);
    }

    #[test]
    fn qdcount_other_than_one_is_malformed() {
        let mut key = [0; 255];
        let mut zero = QUERY_EXAMPLE_A;
        zero[5] = 0;
        assert_eq!(question_key(&zero, &mut key), Err(WireError::QdCount(0)));
        let mut two = QUERY_EXAMPLE_A.to_vec();
        two[5] = 2;
        two.extend_from_slice(&QUERY_EXAMPLE_A[12..]);
        assert_eq!(question_key(&two, &mut key), Err(WireError::QdCount(2)));
        assert!(WireError::QdCount(2).is_malformed());
    }

    #[test]
    fn question_cut_short_is_truncated() {
        let mut key = [0; 255];
        for cut in 12..QUERY_EXAMPLE_A.len() {
            assert_eq!(
                question_key(&QUERY_EXAMPLE_A[..cut], &mut key),
                Err(WireError::Truncated),
                "cut at {cut}"
            );
        }
    }

    /// A message whose question name is `labels` then the root, QTYPE A.
    fn query_with_labels(labels: &[&[u8]]) -> Vec<u8> {
        let mut msg = header(7, 1, 0, 0, 0);
        for l in labels {
            msg.push(l.len() as u8);
            msg.extend_from_slice(l);
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        msg
    }

    #[test]
    fn label_of_64_is_rejected() {
        let long = [b'a'; 64];
        let msg = query_with_labels(&[&long]);
        let mut key = [0; 255];
        assert_eq!(question_key(&msg, &mut key), Err(WireError::BadLabel));
        assert_eq!(parse_name(&msg, 12).unwrap_err(), WireError::BadLabel);
        let ok = query_with_labels(&[&long[..63]]);
        assert!(question_key(&ok, &mut key).is_ok());
        // The 0x80 label type is reserved too.
        let mut msg = query_with_labels(&[b"a"]);
        msg[12] = 0x81;
        assert_eq!(question_key(&msg, &mut key), Err(WireError::BadLabel));
    }

    #[test]
    fn name_of_256_is_rejected_and_255_accepted() {
        let l63 = [b'x'; 63];
        let l62 = [b'x'; 62];
        let l61 = [b'x'; 61];
        let mut key = [0; 255];
        // 3 * 64 + 62 + 1 (root) = 255
        let ok = query_with_labels(&[&l63, &l63, &l63, &l61]);
        let q = question_key(&ok, &mut key).unwrap();
        assert_eq!(q.name_len, 255);
        assert_eq!(parse_name(&ok, 12).unwrap().0.len(), 255);
        let long = query_with_labels(&[&l63, &l63, &l63, &l62]);
        assert_eq!(question_key(&long, &mut key), Err(WireError::NameTooLong));
        assert_eq!(parse_name(&long, 12).unwrap_err(), WireError::NameTooLong);
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_rejected() {
        // Self pointer at the question.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(parse_name(&msg, 12).unwrap_err(), WireError::BadPointer);

        // Two-node loop: 12 -> 14 (forward) -> 12.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0xc0, 0x0e, 0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(parse_name(&msg, 12).unwrap_err(), WireError::BadPointer);
        assert_eq!(parse_name(&msg, 14).unwrap_err(), WireError::BadPointer);

        // A plain forward pointer to a valid name.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0xc0, 0x0e, 0x01, b'a', 0x00]);
        assert_eq!(parse_name(&msg, 12).unwrap_err(), WireError::BadPointer);

        // A label loop: the pointer targets the start of its own name.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0x01, b'a', 0xc0, 0x0c]);
        assert_eq!(parse_name(&msg, 12).unwrap_err(), WireError::BadPointer);

        // Pointer beyond the message.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0x01, b'a', 0x00, 0xc0, 0x30]);
        assert_eq!(parse_name(&msg, 15).unwrap_err(), WireError::BadPointer);
        // Pointer cut in half.
        assert_eq!(
            parse_name(&msg[..16], 15).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn pointer_chains_are_followed_within_budget() {
        // 12: "a." ; then a chain of pointers each to the previous one.
        let mut msg = header(1, 1, 0, 0, 0);
        msg.extend_from_slice(&[0x01, b'a', 0x00]);
        let mut prev = 12u16;
        for _ in 0..MAX_POINTERS + 1 {
            let here = msg.len() as u16;
            msg.extend_from_slice(&(0xc000 | prev).to_be_bytes());
            prev = here;
        }
        let first_ptr = 15;
        let (n, end) = parse_name(&msg, first_ptr + 2 * (MAX_POINTERS - 1)).unwrap();
        assert_eq!(n, name("a."));
        assert_eq!(end, first_ptr + 2 * MAX_POINTERS);
        assert_eq!(
            parse_name(&msg, first_ptr + 2 * MAX_POINTERS).unwrap_err(),
            WireError::TooManyPointers
        );
    }

    #[test]
    fn compressed_question_decodes_on_slow_path() {
        // Additional-section style: "www" + pointer to "example.com" at 12.
        let mut msg = QUERY_EXAMPLE_A.to_vec();
        msg.extend_from_slice(&[0x03, b'W', b'w', b'W', 0xc0, 0x0c, 0, 28, 0, 1]);
        let (q, end) = parse_question(&msg, 29).unwrap();
        assert_eq!(q.name, name("WwW.example.com."));
        assert_eq!(
            (q.qtype, q.qclass, end),
            (Rtype::AAAA, Class::IN, msg.len())
        );
        assert_eq!(q.name.to_lowercase(), name("www.example.com"));
    }

    #[test]
    fn names_from_text_with_escapes() {
        let n = name("a\\.b.c.");
        assert_eq!(n.as_wire(), b"\x03a.b\x01c\x00");
        assert_eq!(n.to_string(), "a\\.b.c.");
        let n = name("\\065\\000x.com");
        assert_eq!(n.as_wire(), b"\x03A\x00x\x03com\x00");
        assert_eq!(n.to_string(), "A\\000x.com.");
        assert_eq!(name(".").as_wire(), b"\x00");
        assert_eq!(name(".").to_string(), ".");
        assert_eq!(name("example.com"), name("example.com."));
        assert_eq!(Name::from_ascii(""), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_ascii("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_ascii(".a"), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_ascii("a\\"), Err(NameError::BadEscape));
        assert_eq!(Name::from_ascii("a\\25"), Err(NameError::BadEscape));
        assert_eq!(Name::from_ascii("a\\256"), Err(NameError::BadEscape));
        assert_eq!(
            Name::from_ascii(&"x".repeat(64)),
            Err(NameError::LabelTooLong)
        );
        assert!(Name::from_ascii(&"x".repeat(63)).is_ok());
        let l63 = "x".repeat(63);
        let max = format!("{l63}.{l63}.{l63}.{}", "x".repeat(61));
        assert_eq!(name(&max).len(), 255);
        let over = format!("{l63}.{l63}.{l63}.{}", "x".repeat(62));
        assert_eq!(Name::from_ascii(&over), Err(NameError::NameTooLong));
    }

    #[test]
    fn name_relations() {
        let www = name("WWW.Example.COM");
        assert!(www.is_subdomain_of(&name("example.com")));
        assert!(www.is_subdomain_of(&www));
        assert!(www.is_subdomain_of(&Name::root()));
        assert!(!www.is_subdomain_of(&name("ample.com")));
        assert!(!name("example.com").is_subdomain_of(&www));
        assert!(www.eq_ignore_case(&name("www.example.com")));
        assert_ne!(www, name("www.example.com"));
        assert_eq!(www.label_count(), 3);
        let labels: Vec<&[u8]> = www.labels().collect();
        assert_eq!(labels, vec![&b"WWW"[..], b"Example", b"COM"]);
        assert_eq!(www.parent(), Some(name("Example.COM")));
        assert_eq!(name("com").parent(), Some(Name::root()));
        assert_eq!(Name::root().parent(), None);
        assert_eq!(Name::from_wire(b"\x03www\x00").unwrap(), name("www"));
        assert!(Name::from_wire(b"\x03www\x00x").is_err());
        assert!(Name::from_wire(b"\x03ww").is_err());
    }

    #[test]
    fn duplicate_opt_is_formerr_and_bad_owner_is_bad_opt() {
        let mut msg = QUERY_MIXED_EDNS.to_vec();
        msg[11] = 2;
        msg.extend_from_slice(&QUERY_MIXED_EDNS[29..]);
        let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
        assert_eq!(
            parse_additional_opt(&msg, 29, counts),
            Err(WireError::DuplicateOpt)
        );

        let mut msg = QUERY_EXAMPLE_A.to_vec();
        msg[11] = 1;
        msg.extend_from_slice(&[0xc0, 0x0c, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
        assert_eq!(
            parse_additional_opt(&msg, 29, counts),
            Err(WireError::BadOpt)
        );

        // An option running past the RDATA.
        let mut msg = QUERY_MIXED_EDNS.to_vec();
        msg[43] = 0x09;
        let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
        assert_eq!(
            parse_additional_opt(&msg, 29, counts),
            Err(WireError::BadOpt)
        );
    }

    #[test]
    fn opt_fields_version_and_do_bit() {
        let mut msg = QUERY_EXAMPLE_A.to_vec();
        msg[11] = 1;
        msg.extend_from_slice(&[0, 0, 41, 0x01, 0xf4, 0x00, 0x01, 0x80, 0x00, 0, 0]);
        let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
        let e = parse_additional_opt(&msg, 29, counts).unwrap().unwrap();
        assert_eq!((e.udp_size, e.version, e.dnssec_ok, e.z), (500, 1, true, 0));
        assert!(e.options.is_empty());
    }

    #[test]
    fn answer_and_authority_in_query_are_skipped() {
        // A query with one (compressed) answer RR, then the OPT.
        let mut msg = QUERY_EXAMPLE_A.to_vec();
        msg[7] = 1;
        msg[11] = 1;
        msg.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        msg.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
        let e = parse_additional_opt(&msg, 29, counts).unwrap().unwrap();
        assert_eq!((e.udp_size, e.offset), (1232, 45));
        // ARCOUNT says 1 but the record is cut.
        let cut = &msg[..msg.len() - 1];
        assert_eq!(
            parse_additional_opt(cut, 29, counts),
            Err(WireError::Truncated)
        );
    }

    fn soa<'a>(m: &'a Name, r: &'a Name) -> RData<'a> {
        RData::Soa {
            mname: m,
            rname: r,
            serial: 2026112101,
            refresh: 7200,
            retry: 3600,
            expire: 1209600,
            minimum: 300,
        }
    }

    #[test]
    fn builder_round_trip_with_compression() {
        let qname = name("www.example.com");
        let cname = name("web.example.com");
        let apex = name("example.com");
        let ns1 = name("ns1.example.com");
        let host = name("hostmaster.example.com");
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        let mut h = HeaderRepr::parse(&DnsPacket::new_checked(&QUERY_EXAMPLE_A[..]).unwrap());
        h.qr = true;
        h.aa = true;
        b.header(&h);
        b.question(&qname, Rtype::A, Class::IN).unwrap();
        b.rr(
            Section::Answer,
            &qname,
            Rtype::CNAME,
            Class::IN,
            300,
            &RData::Cname(&cname),
        )
        .unwrap();
        b.rr(
            Section::Answer,
            &cname,
            Rtype::A,
            Class::IN,
            300,
            &RData::A([192, 0, 2, 7]),
        )
        .unwrap();
        b.rr(
            Section::Authority,
            &apex,
            Rtype::SOA,
            Class::IN,
            300,
            &soa(&ns1, &host),
        )
        .unwrap();
        let mx = RData::Mx {
            preference: 10,
            exchange: &ns1,
        };
        b.rr(Section::Additional, &apex, Rtype::MX, Class::IN, 60, &mx)
            .unwrap();
        b.opt(1232, 0, 0, true).unwrap();
        let len = b.finish();
        let msg = &buf[..len];

        let p = DnsPacket::new_checked(msg).unwrap();
        assert_eq!(p.id(), 0x1234);
        assert!(p.qr() && p.aa() && p.rd());
        assert_eq!(
            p.counts(),
            Counts {
                qd: 1,
                an: 2,
                ns: 1,
                ar: 2
            }
        );

        // Question at 12, written in full.
        let (q, mut pos) = parse_question(msg, 12).unwrap();
        assert_eq!((q.name, q.qtype), (qname.clone(), Rtype::A));
        assert_eq!(pos, 12 + 17 + 4);
        // Answer 1: owner is a bare pointer to the question name.
        assert_eq!(&msg[pos..pos + 2], &[0xc0, 0x0c]);
        let (rr, next) = parse_record(msg, pos).unwrap();
        assert_eq!(
            (rr.name, rr.rtype, rr.ttl),
            (qname.clone(), Rtype::CNAME, 300)
        );
        // CNAME target "web" + pointer to "example.com" at 16.
        assert_eq!(&msg[rr.rdata.clone()], &[3, b'w', b'e', b'b', 0xc0, 16]);
        assert_eq!(parse_name(msg, rr.rdata.start).unwrap().0, cname);
        let web_at = rr.rdata.start;
        pos = next;
        // Answer 2: owner points at the CNAME target.
        assert_eq!(&msg[pos..pos + 2], &(0xc000 | web_at as u16).to_be_bytes());
        let (rr, next) = parse_record(msg, pos).unwrap();
        assert_eq!(
            (&rr.name, &msg[rr.rdata.clone()]),
            (&cname, &[192u8, 0, 2, 7][..])
        );
        pos = next;
        // Authority: SOA with both names compressed.
        let (rr, next) = parse_record(msg, pos).unwrap();
        assert_eq!((&rr.name, rr.rtype), (&apex, Rtype::SOA));
        assert_eq!(&msg[pos..pos + 2], &[0xc0, 16]);
        let (m, after) = parse_name(msg, rr.rdata.start).unwrap();
        let (r, after) = parse_name(msg, after).unwrap();
        assert_eq!((m, r), (ns1.clone(), host));
        assert_eq!(
            &msg[rr.rdata.start..rr.rdata.start + 6],
            &[3, b'n', b's', b'1', 0xc0, 16]
        );
        assert_eq!(read_u32(msg, after), Some(2026112101));
        assert_eq!(after + 20, rr.rdata.end);
        let ns1_at = rr.rdata.start;
        pos = next;
        // Additional: MX exchange is a bare pointer to ns1.
        let (rr, next) = parse_record(msg, pos).unwrap();
        assert_eq!(&msg[rr.rdata.clone()], &[0, 10, 0xc0, ns1_at as u8]);
        pos = next;
        // And the OPT record, which parse_additional_opt finds.
        let edns = parse_additional_opt(msg, 12 + 21, p.counts())
            .unwrap()
            .unwrap();
        assert_eq!(
            (edns.udp_size, edns.dnssec_ok, edns.offset),
            (1232, true, pos)
        );
        assert_eq!(pos + 11, len);
    }

    #[test]
    fn compression_saves_bytes() {
        let names = [
            "a.example.com",
            "b.example.com",
            "c.b.example.com",
            "example.com",
        ];
        let mut with = [0u8; 512];
        let mut b = MessageBuilder::new(&mut with).unwrap();
        for n in names {
            b.rr(
                Section::Answer,
                &name(n),
                Rtype::NS,
                Class::IN,
                1,
                &RData::Ns(&name("ns.example.com")),
            )
            .unwrap();
        }
        let compressed = b.finish();
        // The same records written with raw (uncompressed) owner and RDATA.
        let uncompressed: usize = HEADER_LEN
            + names
                .iter()
                .map(|n| name(n).len() + 10 + name("ns.example.com").len())
                .sum::<usize>();
        assert!(
            compressed < uncompressed - 60,
            "{compressed} vs {uncompressed}"
        );
        // Every record parses back to the names given.
        let msg = &with[..compressed];
        let mut pos = HEADER_LEN;
        for n in names {
            let (rr, next) = parse_record(msg, pos).unwrap();
            assert_eq!(rr.name, name(n));
            assert_eq!(
                parse_name(msg, rr.rdata.start).unwrap().0,
                name("ns.example.com")
            );
            pos = next;
        }
        assert_eq!(pos, compressed);
        // Record 1 is written in full from 12 ("\x01a" then "example.com" at 14); the last
        // record is a pointer owner, fixed part, pointer RDATA: 14 bytes.
        assert_eq!(compressed, 12 + 30 + 16 + 16 + 14);
        assert_eq!(&msg[compressed - 14..compressed - 12], &[0xc0, 14]);
        // "ns.example.com" is "\x02ns" + a pointer to 14, then reused whole by pointer.
        assert_eq!(&msg[12 + 25..12 + 30], &[2, b'n', b's', 0xc0, 14]);
        assert_eq!(&msg[compressed - 2..], &[0xc0, 37]);
    }

    #[test]
    fn compression_ignores_case_and_srv_target_stays_literal() {
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        b.question(&name("ExAmPle.CoM"), Rtype::SRV, Class::IN)
            .unwrap();
        let srv = RData::Srv {
            priority: 1,
            weight: 2,
            port: 53,
            target: &name("example.com"),
        };
        b.rr(
            Section::Answer,
            &name("example.com"),
            Rtype::SRV,
            Class::IN,
            5,
            &srv,
        )
        .unwrap();
        let len = b.finish();
        let msg = &buf[..len];
        let (rr, _) = parse_record(msg, 29).unwrap();
        assert_eq!(&msg[29..31], &[0xc0, 0x0c]);
        assert_eq!(rr.name, name("ExAmPle.CoM"));
        assert_eq!(
            &msg[rr.rdata.start + 6..rr.rdata.end],
            b"\x07example\x03com\x00"
        );
    }

    #[test]
    fn overflow_truncates_at_rr_boundary() {
        let owner = name("www.example.com");
        let mut buf = [0u8; 80];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        b.question(&owner, Rtype::TXT, Class::IN).unwrap();
        let txt = [30u8; 31];
        b.rr(
            Section::Answer,
            &owner,
            Rtype::TXT,
            Class::IN,
            1,
            &RData::Raw(&txt),
        )
        .unwrap();
        let before = b.len();
        assert_eq!(before, 33 + 12 + 31);
        let err = b.rr(
            Section::Answer,
            &owner,
            Rtype::TXT,
            Class::IN,
            1,
            &RData::Raw(&txt),
        );
        assert_eq!(err, Err(BuildError::Truncated));
        assert_eq!(b.len(), before);
        // A name written in a failed record is no compression target afterwards.
        let e = b.opt(512, 0, 0, false);
        assert_eq!(e, Err(BuildError::Truncated));
        b.set_tc(true);
        let len = b.finish();
        let p = DnsPacket::new_checked(&buf[..len]).unwrap();
        assert!(p.tc());
        assert_eq!(
            p.counts(),
            Counts {
                qd: 1,
                an: 1,
                ns: 0,
                ar: 0
            }
        );
        assert!(MessageBuilder::new(&mut [0u8; 11]).is_err());
    }

    #[test]
    fn failed_record_forgets_its_compression_entries() {
        let mut buf = [0u8; 40];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        let big = RData::Raw(&[0; 16]);
        // Owner fits, RDATA does not: the owner's offset must not be remembered.
        let err = b.rr(
            Section::Answer,
            &name("abc.def"),
            Rtype(99),
            Class::IN,
            0,
            &big,
        );
        assert_eq!(err, Err(BuildError::Truncated));
        b.rr(
            Section::Answer,
            &name("x.def"),
            Rtype::A,
            Class::IN,
            0,
            &RData::A([1, 2, 3, 4]),
        )
        .unwrap();
        let len = b.finish();
        assert_eq!(&buf[12..19], b"\x01x\x03def\x00");
        assert_eq!(parse_record(&buf[..len], 12).unwrap().0.name, name("x.def"));
    }

    #[test]
    fn sections_must_not_go_backwards() {
        let mut buf = [0u8; 128];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        let n = name("a");
        b.rr(
            Section::Authority,
            &n,
            Rtype::A,
            Class::IN,
            0,
            &RData::A([0; 4]),
        )
        .unwrap();
        assert_eq!(
            b.rr(
                Section::Answer,
                &n,
                Rtype::A,
                Class::IN,
                0,
                &RData::A([0; 4])
            ),
            Err(BuildError::SectionOrder)
        );
        assert_eq!(
            b.question(&n, Rtype::A, Class::IN),
            Err(BuildError::SectionOrder)
        );
    }

    #[test]
    fn badvers_response_splits_rcode() {
        let mut buf = [0u8; 64];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        let h = HeaderRepr {
            id: 9,
            qr: true,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: false,
            ra: false,
            ad: false,
            cd: false,
            rcode: Rcode::BADVERS,
            counts: Counts::default(),
        };
        b.header(&h);
        b.opt(1232, Rcode::BADVERS.extended_bits(), 0, false)
            .unwrap();
        let len = b.finish();
        let p = DnsPacket::new_checked(&buf[..len]).unwrap();
        let e = parse_additional_opt(&buf[..len], 12, p.counts())
            .unwrap()
            .unwrap();
        assert_eq!(Rcode::from_parts(p.rcode(), e.ext_rcode), Rcode::BADVERS);
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..=20), 0..8).prop_map(|labels| {
            let mut wire = Vec::new();
            for l in labels {
                wire.push(l.len() as u8);
                wire.extend_from_slice(&l);
            }
            wire.push(0);
            Name::from_wire(&wire).unwrap()
        })
    }

    fn arb_lower_name() -> impl Strategy<Value = Name> {
        prop::collection::vec("[a-c]{1,3}", 0..5).prop_map(|labels| {
            if labels.is_empty() {
                Name::root()
            } else {
                name(&labels.join("."))
            }
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic(msg in prop::collection::vec(any::<u8>(), 0..300), off in 0usize..300) {
            let mut key = [0; 255];
            if let Ok(q) = question_key(&msg, &mut key) {
                let counts = DnsPacket::new_checked(&msg[..]).unwrap().counts();
                let _ = parse_additional_opt(&msg, q.end, counts);
            }
            let _ = parse_name(&msg, off);
            let _ = parse_question(&msg, off);
            let _ = parse_record(&msg, off);
            let _ = parse_additional_opt(&msg, off, Counts { qd: 1, an: 2, ns: 1, ar: 3 });
            let _ = Name::from_wire(&msg);
        }

        #[test]
        fn headerish_queries_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300), counts in any::<[u8; 8]>()) {
            let mut msg = vec![0, 1, 1, 0, 0, 1];
            msg.extend_from_slice(&counts[2..]);
            msg.extend_from_slice(&tail);
            let mut key = [0; 255];
            if let Ok(q) = question_key(&msg, &mut key) {
                prop_assert!(q.end <= msg.len());
                let (slow, end) = parse_question(&msg, 12).unwrap();
                prop_assert_eq!(end, q.end);
                let lower = slow.name.to_lowercase();
                prop_assert_eq!(lower.as_wire(), &key[..q.name_len]);
                let c = DnsPacket::new_checked(&msg[..]).unwrap().counts();
                let _ = parse_additional_opt(&msg, q.end, c);
            }
        }

        #[test]
        fn text_round_trip(n in arb_name()) {
            let text = n.to_string();
            prop_assert_eq!(Name::from_ascii(&text).unwrap(), n);
        }

        #[test]
        fn from_ascii_then_display_is_stable(s in "[a-zA-Z0-9.\\\\-]{0,40}") {
            if let Ok(n) = Name::from_ascii(&s) {
                prop_assert_eq!(Name::from_ascii(&n.to_string()).unwrap(), n);
            }
        }

        #[test]
        fn from_ascii_never_panics(s in any::<String>()) {
            if let Ok(n) = Name::from_ascii(&s) {
                prop_assert!(n.len() <= MAX_NAME_LEN);
                prop_assert_eq!(Name::from_wire(n.as_wire()).unwrap(), n);
            }
        }

        #[test]
        fn small_buffers_truncate_at_record_boundaries(size in 0usize..160) {
            let mut buf = vec![0u8; size];
            let Ok(mut b) = MessageBuilder::new(&mut buf) else {
                prop_assert!(size < HEADER_LEN);
                return Ok(());
            };
            let owner = name("www.example.com");
            let target = name("mail.example.com");
            let mut written = 0u16;
            let mut stopped = b.question(&owner, Rtype::MX, Class::IN).is_err();
            for pref in 0..4u16 {
                if stopped {
                    break;
                }
                let mx = RData::Mx { preference: pref, exchange: &target };
                match b.rr(Section::Answer, &owner, Rtype::MX, Class::IN, 1, &mx) {
                    Ok(()) => written += 1,
                    Err(e) => {
                        prop_assert_eq!(e, BuildError::Truncated);
                        stopped = true;
                    }
                }
            }
            let len = b.finish();
            prop_assert!(len <= size);
            let msg = &buf[..len];
            let counts = DnsPacket::new_checked(msg).unwrap().counts();
            prop_assert_eq!(counts.an, written);
            if counts.qd == 1 {
                let mut pos = parse_question(msg, HEADER_LEN).unwrap().1;
                for _ in 0..written {
                    let (rr, next) = parse_record(msg, pos).unwrap();
                    prop_assert_eq!(&rr.name, &owner);
                    prop_assert_eq!(parse_name(msg, rr.rdata.start + 2).unwrap().0, target.clone());
                    pos = next;
                }
                prop_assert_eq!(pos, len);
            }
        }

        #[test]
        fn builder_round_trip(owners in prop::collection::vec(arb_lower_name(), 1..12), targets in prop::collection::vec(arb_lower_name(), 12)) {
            let mut buf = [0u8; 1024];
            let mut b = MessageBuilder::new(&mut buf).unwrap();
            b.question(&owners[0], Rtype::A, Class::IN).unwrap();
            for (o, t) in owners.iter().zip(&targets) {
                b.rr(Section::Answer, o, Rtype::CNAME, Class::IN, 7, &RData::Cname(t)).unwrap();
            }
            let len = b.finish();
            let msg = &buf[..len];
            let (q, mut pos) = parse_question(msg, 12).unwrap();
            prop_assert_eq!(&q.name, &owners[0]);
            for (o, t) in owners.iter().zip(&targets) {
                let (rr, next) = parse_record(msg, pos).unwrap();
                prop_assert_eq!(&rr.name, o);
                let (target, end) = parse_name(msg, rr.rdata.start).unwrap();
                prop_assert_eq!(&target, t);
                prop_assert_eq!(end, rr.rdata.end);
                pos = next;
            }
            prop_assert_eq!(pos, len);
        }
    }
}
