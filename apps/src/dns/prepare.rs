//! Prepared responses (Namestorm, issue 7): every answer the zones can give is built once
//! at start-up, and a query is answered by a hash lookup and a copy.
//!
//! A response is `header (12) + question as received + tail`. [`Prepared::lookup`] takes
//! the lowercased wire-format question name (what [`wire::question_key`] writes) and the
//! QTYPE and returns an [`Answer`]: the header flags, the counts and the tail, the
//! answer, authority and additional sections already compressed against a question at
//! offset 12 of the same length. The server patches id, RD and the question (case kept)
//! and copies the tail ([`Answer::write`] does exactly that).
//!
//! Two kinds of tail:
//! - Exact tails, for names that exist (owners and empty non-terminals), are built by
//!   [`MessageBuilder`] behind a question holding that very name, so every name in the
//!   tail may point into the question or into the tail.
//! - Shared tails serve many query names of different lengths: NXDOMAIN (one per zone),
//!   referrals (one per delegation) and wildcard answers (one per wildcard and type). Their
//!   only compression pointer is to offset 12, the whole question name, used as the owner
//!   of synthesized records; every other name is written in full, since an offset after
//!   the question depends on the query name's length.
//!
//! Lookup (RFC 1034 4.3.2 on prepared nodes): one probe for the exact name; on a miss the
//! key's labels are stripped one by one until a node is found, the closest encloser
//! (empty non-terminals are nodes, so they stop the walk, RFC 4592 2.2.2). That node's
//! "below" answer is a referral when it is at or under a zone cut, the wildcard `*.<it>`
//! when there is one, and NXDOMAIN otherwise. No name found: REFUSED. At most one probe
//! per label, no allocation.
//!
//! Decisions:
//! - QCLASS: only IN is served; other classes get REFUSED ([`Prepared::lookup_question`]),
//!   as for names outside our zones: we are authoritative for no data there.
//! - QTYPE ANY (RFC 8482 4.2): the first RRset of the node in zone-file order (the SOA at
//!   an apex, the CNAME at an alias).
//! - Additional section processing (RFC 1035 3.3.9, 3.3.11, RFC 2782): A then AAAA of the
//!   in-zone targets of NS, MX and SRV records, each target once; glue below a zone cut is
//!   only given in referrals.
//! - Truncation: records only point backwards, so any prefix of a tail's records is a valid
//!   message. [`Answer::fit`] keeps the records that fit the client's size; TC is set when
//!   an answer or authority record is left out (RFC 2181 9, RFC 1035 4.2.1), or the
//!   in-domain glue of a referral (RFC 9471 2.1); other additional records are dropped
//!   silently.
//! - CNAME chains are followed inside the zone up to [`MAX_CHAIN`] steps and stop at a
//!   loop, at a zone cut or outside the zone; a chain ending at a name that does not exist
//!   answers NXDOMAIN (RFC 6604 2), one ending at a name without the type has the SOA in
//!   authority (RFC 2308 2.2).
//! - DS at a delegation point is answered by the parent (RFC 4035 3.1.4.1).
//! - Several zones: each name belongs to the deepest zone whose apex it is at or under.
//! - Names in the tail that are compressed against the question take the client's case
//!   for the shared labels (the owner always does; so may e.g. an MX exchange's suffix).
//!
//! The table is keyed by name, not (name, type): a node holds its few types in a short
//! list scanned linearly, plus one template for every other type, so the walk-up for
//! misses needs one probe per label. It is a flat open-addressing table (`NameTable`):
//! a bucket array at most half full and one arena of records, each the lowercased wire
//! name followed by its type list with each type's header flags, template and frame, so
//! an answer at an existing name costs a bucket and a record, two cache lines or three.
//! Names are hashed with [`SeededHasher`], an FxHash-style multiply-rotate over 8-byte
//! words with a per-process random seed: a few nanoseconds per key instead of SipHash's
//! tens. The table is built from the zone files and never grows, so a query can only
//! probe runs the zone made; the seed keeps those runs from being predictable from the
//! public zone contents.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use super::wire::{
    self, BuildError, Class, Counts, DnsPacket, HeaderRepr, MessageBuilder, Name, Opcode, Question,
    Rcode, Rtype, Section, HEADER_LEN, MAX_NAME_LEN,
};
use super::zone::{self, Zone};

/// CNAME steps followed inside a zone before giving up (loops stop earlier).
pub const MAX_CHAIN: usize = 16;

/// The largest DNS message (the TCP length prefix is 16 bits, RFC 1035 4.2.2).
const MAX_MESSAGE: usize = 65535;

/// Room for the header and the longest question ahead of a shared tail.
const MAX_QUESTION_PART: usize = HEADER_LEN + MAX_NAME_LEN + 4;

/// Template 0: REFUSED, no records.
const REFUSED: u32 = 0;

/// Internal QTYPE for "a type the node does not have": type 0 is reserved (RFC 6895 3.1).
const NO_TYPE: u16 = 0;

/// Why the zones could not be prepared; one line, naming the name at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareError {
    /// Two zones with the same apex.
    DuplicateZone { apex: String },
    /// A zone whose apex has no SOA record.
    NoSoa { apex: String },
    /// A name in a zone that is not a valid wire-format name.
    BadName { zone: String },
    /// A record whose owner is outside its zone.
    NotInZone { owner: String, apex: String },
    /// A TXT string or CAA tag over 255 octets.
    BadRdata { owner: String, rtype: Rtype },
    /// A response that would exceed 65535 octets.
    TooLarge { owner: String, rtype: Rtype },
    /// More names than the table's 32-bit offsets reach.
    TooManyNames { names: usize },
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateZone { apex } => write!(f, "zone {apex} is loaded twice"),
            Self::NoSoa { apex } => write!(f, "zone {apex} has no SOA record at its apex"),
            Self::BadName { zone } => write!(f, "zone {zone} holds a malformed name"),
            Self::NotInZone { owner, apex } => write!(f, "{owner} is outside the zone {apex}"),
            Self::BadRdata { owner, rtype } => {
                write!(f, "{owner} {rtype}: a string is longer than 255 octets")
            }
            Self::TooLarge { owner, rtype } => {
                write!(f, "{owner} {rtype}: the response exceeds 65535 octets")
            }
            Self::TooManyNames { names } => {
                write!(f, "{names} names are more than one table holds")
            }
        }
    }
}

impl std::error::Error for PrepareError {}

// ---------------------------------------------------------------------------------------
// The run-time side
// ---------------------------------------------------------------------------------------

/// Every response of a set of zones; see the module documentation.
pub struct Prepared {
    names: NameTable,
    /// Per name (its record's `below`): answers for names below it that do not exist
    /// (the name is their closest encloser).
    below: Vec<Below>,
    templates: Vec<Template>,
    tails: Vec<u8>,
    ends: Vec<u16>,
    /// The distinct (template, question length) pairs answers at existing names use.
    frames: Vec<(u32, u16)>,
}

/// One name that exists in a zone, while the table is built.
struct Node {
    /// Answers for this very name.
    exact: TypeTable,
    /// Answers for names below it that do not exist (this node is their closest encloser).
    below: Below,
}

/// The names of the zones in one open-addressing table, built once and never changed:
/// linear probing in a bucket array at most half full, and every name's record in one
/// arena. A lookup touches a bucket (a cache line of eight) and the record, which holds
/// the name and everything an answer at it needs, where a map of boxed keys to nodes
/// touched the bucket, the key, the node and its type list, each a miss in a large zone.
///
/// A bucket holds 32 bits of the name's hash (the tag; 0 marks an empty bucket, so a
/// tag always has its low bit set) and where the record starts. A record, 4-aligned, in
/// little-endian words: `name length | entries << 8`, the index of its [`Below`], the
/// name (padded to 4), then `entries` + 1 entries of 12 octets: QTYPE and the template's
/// header flags (16 bits each), template and frame (32 bits each); the last entry, for
/// every other QTYPE, has QTYPE 0.
struct NameTable {
    hasher: SeededHasher,
    buckets: Box<[Bucket]>,
    mask: usize,
    records: Box<[u8]>,
    count: usize,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    tag: u32,
    at: u32,
}

/// Octets of a record before the name.
const RECORD_HEAD: usize = 8;
/// Octets of a record entry.
const ENTRY_LEN: usize = 12;

/// What a lookup found, before the answer's sections are read ([`Prepared::answer_for`]):
/// enough to send a prepared frame without touching the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    flags: u16,
    template: u32,
    frame: u32,
}

impl Found {
    /// A placeholder (REFUSED, no frame) for storage not yet filled in.
    pub const NONE: Found = Found {
        flags: 0x8005,
        template: REFUSED,
        frame: NO_FRAME,
    };

    /// See [`Answer::frame`].
    #[inline]
    pub fn frame(&self) -> Option<usize> {
        (self.frame != NO_FRAME).then_some(self.frame as usize)
    }

    /// See [`Answer::flags`].
    #[inline]
    pub fn flags(&self) -> u16 {
        self.flags
    }

    #[inline]
    pub fn rcode(&self) -> Rcode {
        Rcode(self.flags & 0x000f)
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl NameTable {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        h.finish()
    }

    /// The bucket `hash` starts probing at, and its tag.
    #[inline]
    fn start(&self, hash: u64) -> (usize, u32) {
        (hash as usize & self.mask, (hash >> 32) as u32 | 1)
    }

    /// The record of `key` (whose hash is `hash`).
    #[inline]
    fn find(&self, key: &[u8], hash: u64) -> Option<usize> {
        self.probe(hash, |at| self.name(at) == key)
    }

    /// The record of the first bucket whose tag matches, without comparing names: the
    /// record [`NameTable::find`] will almost surely read.
    #[inline]
    fn candidate(&self, hash: u64) -> Option<usize> {
        self.probe(hash, |_| true)
    }

    /// Walk the run from `hash`'s bucket to the first empty one: the first record whose
    /// tag matches and that `accept` takes.
    #[inline]
    fn probe(&self, hash: u64, accept: impl Fn(usize) -> bool) -> Option<usize> {
        let (mut i, tag) = self.start(hash);
        loop {
            let b = self.buckets[i];
            if b.tag == 0 {
                return None;
            }
            if b.tag == tag && accept(b.at as usize) {
                return Some(b.at as usize);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn name(&self, at: usize) -> &[u8] {
        let len = usize::from(self.records[at]);
        &self.records[at + RECORD_HEAD..at + RECORD_HEAD + len]
    }

    #[inline]
    fn below(&self, at: usize) -> usize {
        u32_at(&self.records, at + 4) as usize
    }

    /// The entry of the record at `at` for `qtype`.
    #[inline]
    fn entry(&self, at: usize, qtype: u16) -> Found {
        let r = &*self.records;
        let head = u32_at(r, at);
        let len = (head & 0xff) as usize;
        let mut e = at + RECORD_HEAD + len.next_multiple_of(4);
        for _ in 0..head >> 8 {
            if u16_at(r, e) == qtype {
                break;
            }
            e += ENTRY_LEN;
        }
        Found {
            flags: u16_at(r, e + 2),
            template: u32_at(r, e + 4),
            frame: u32_at(r, e + 8),
        }
    }

    /// Builds the table; `record` writes each name's record (after its name) and gives
    /// its entry count and below index.
    fn build<T>(
        names: impl ExactSizeIterator<Item = (Box<[u8]>, T)>,
        mut record: impl FnMut(&[u8], T, &mut Vec<u8>) -> (usize, u32),
    ) -> Result<NameTable, PrepareError> {
        let n = names.len();
        let buckets = n.saturating_mul(2).next_power_of_two().max(16);
        let mut t = NameTable {
            hasher: SeededHasher::new(),
            buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
            mask: buckets - 1,
            records: Box::new([]),
            count: n,
        };
        let mut records = Vec::new();
        for (name, value) in names {
            let name = &*name;
            let at = records.len();
            let too_many = || PrepareError::TooManyNames { names: n };
            let at32 = u32::try_from(at).map_err(|_| too_many())?;
            records.extend_from_slice(&[0; RECORD_HEAD]);
            records.extend_from_slice(name);
            records.resize(records.len().next_multiple_of(4), 0);
            let (entries, below) = record(name, value, &mut records);
            let entries = u32::try_from(entries)
                .ok()
                .filter(|&e| e < 1 << 24)
                .ok_or_else(too_many)?;
            let head = name.len() as u32 | entries << 8;
            records[at..at + 4].copy_from_slice(&head.to_le_bytes());
            records[at + 4..at + 8].copy_from_slice(&below.to_le_bytes());
            let (mut i, tag) = t.start(t.hash(name));
            while t.buckets[i].tag != 0 {
                i = (i + 1) & t.mask;
            }
            t.buckets[i] = Bucket { tag, at: at32 };
        }
        t.records = records.into_boxed_slice();
        Ok(t)
    }
}

enum Below {
    /// NXDOMAIN or a referral, whatever the type.
    Same(u32),
    /// Synthesized from `*.<this node>`.
    Wildcard(TypeTable),
}

/// Template per QTYPE: the few types a node has, and one for all others.
struct TypeTable {
    types: Box<[(u16, u32)]>,
    other: u32,
}

impl TypeTable {
    fn get(&self, qtype: u16) -> u32 {
        self.types
            .iter()
            .find(|&&(t, _)| t == qtype)
            .map_or(self.other, |&(_, id)| id)
    }
}

/// A prepared tail: ranges into [`Prepared`]'s shared arrays.
struct Template {
    flags: u16,
    counts: Counts,
    /// Additional records a response may not go without (in-domain glue of a referral).
    required_ar: u16,
    tail: (u32, u32),
    ends: (u32, u32),
}

/// What to send for one query: header flags, counts and the records after the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    flags: u16,
    counts: Counts,
    tail: &'a [u8],
    /// Where each record ends in `tail`, in order.
    ends: &'a [u16],
    /// The first additional records that may not be left out without TC.
    required_ar: u16,
    /// The frame of an answer at an existing name ([`NO_FRAME`] otherwise).
    frame: u32,
}

/// [`Answer`] at a name that does not exist: no frame of its own.
const NO_FRAME: u32 = u32::MAX;

/// The part of an answer that fits a size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Bytes of the tail to send.
    pub tail_len: usize,
    pub counts: Counts,
    /// An answer or authority record was left out.
    pub tc: bool,
}

impl<'a> Answer<'a> {
    /// The frame ([`Prepared::frame`]) this answer has when the question names a node
    /// that exists: the response to such a question has the same bytes but for id, RD and
    /// the question, whatever the client's case (the name's length is fixed). `None` for
    /// answers shared by names of different lengths (NXDOMAIN, wildcards, below a cut).
    pub fn frame(&self) -> Option<usize> {
        (self.frame != NO_FRAME).then_some(self.frame as usize)
    }

    /// The response header's flags word: QR, AA and RCODE (RD and TC are per query).
    pub fn flags(&self) -> u16 {
        self.flags
    }

    pub fn rcode(&self) -> Rcode {
        Rcode(self.flags & 0x000f)
    }

    pub fn aa(&self) -> bool {
        let mut header = [0; HEADER_LEN];
        header[2..4].copy_from_slice(&self.flags.to_be_bytes());
        DnsPacket::new_unchecked(header).aa()
    }

    /// Section counts of the full response (QDCOUNT 1).
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The answer, authority and additional records, to follow the question.
    pub fn tail(&self) -> &'a [u8] {
        self.tail
    }

    /// Length of the full response to a question of `question_len` octets (name + 4).
    pub fn response_len(&self, question_len: usize) -> usize {
        HEADER_LEN + question_len + self.tail.len()
    }

    /// The records that fit in `room` octets after the question: a prefix, cut at a record
    /// boundary (RFC 2181 9). Only needed when [`Answer::response_len`] is over the limit.
    pub fn fit(&self, room: usize) -> Fit {
        if self.tail.len() <= room {
            return Fit {
                tail_len: self.tail.len(),
                counts: self.counts,
                tc: false,
            };
        }
        let kept = self.ends.partition_point(|&end| end as usize <= room);
        let tail_len = kept.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        let an = (kept as u16).min(self.counts.an);
        let ns = (kept as u16 - an).min(self.counts.ns);
        let ar = kept as u16 - an - ns;
        Fit {
            tail_len,
            counts: Counts { qd: 1, an, ns, ar },
            tc: an < self.counts.an || ns < self.counts.ns || ar < self.required_ar,
        }
    }

    /// Writes the response to a query with `id`, `rd` and `question` (the question as
    /// received, [`Question::raw`]) into `out`, at most `max_len` octets (512, or the
    /// EDNS size less the OPT record the caller appends). `None` if not even the header
    /// and question fit.
    #[inline]
    pub fn write(
        &self,
        id: u16,
        rd: bool,
        question: &[u8],
        max_len: usize,
        out: &mut [u8],
    ) -> Option<usize> {
        let q_end = HEADER_LEN + question.len();
        let room = max_len.min(out.len()).checked_sub(q_end)?;
        let fit = self.fit(room);
        let len = q_end + fit.tail_len;
        let mut header = DnsPacket::new_unchecked(&mut out[..HEADER_LEN]);
        header.set_id(id);
        header.set_flags(self.flags);
        header.set_rd(rd);
        header.set_tc(fit.tc);
        header.set_counts(fit.counts);
        out[HEADER_LEN..q_end].copy_from_slice(question);
        out[q_end..len].copy_from_slice(&self.tail[..fit.tail_len]);
        Some(len)
    }
}

impl Prepared {
    /// The answer for the lowercased wire-format name `key` and `qtype` (class IN).
    /// `key` must be a whole wire name as [`wire::question_key`] writes it; anything else
    /// is answered REFUSED, never a panic.
    #[inline]
    pub fn lookup(&self, key: &[u8], qtype: u16) -> Answer<'_> {
        self.answer_for(self.find(key, self.hash(key), qtype))
    }

    /// [`Prepared::lookup`] for a question read by [`wire::question_key`]; classes other
    /// than IN are REFUSED.
    #[inline]
    pub fn lookup_question(&self, question: &Question<'_>, key: &[u8]) -> Answer<'_> {
        let key = question_name(question, key);
        self.answer_for(self.find_question(question, key, self.hash(key)))
    }

    /// The hash of `key` in the name table, for the staged lookup of a burst: hash and
    /// [`Prepared::prefetch_bucket`] for every query, then
    /// [`Prepared::prefetch_record`] for every query, then [`Prepared::find`]; the
    /// cache misses of the queries overlap where one lookup at a time waited for each.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.names.hash(key)
    }

    /// Start loading the bucket a key of `hash` is probed from.
    #[inline]
    pub fn prefetch_bucket(&self, hash: u64) {
        nmio::prefetch(&self.names.buckets[hash as usize & self.names.mask]);
    }

    /// Start loading the record a key of `hash` most likely has (its bucket should be in
    /// the cache by now: [`Prepared::prefetch_bucket`]).
    #[inline]
    pub fn prefetch_record(&self, hash: u64) {
        if let Some(at) = self.names.candidate(hash) {
            let r = &self.names.records;
            nmio::prefetch(&r[at..r.len().min(at + 64)]);
        }
    }

    /// [`Prepared::lookup`] with the key's [`Prepared::hash`], stopping short of the
    /// answer's sections.
    #[inline]
    pub fn find(&self, key: &[u8], hash: u64, qtype: u16) -> Found {
        if let Some(at) = self.names.find(key, hash) {
            return self.names.entry(at, qtype);
        }
        self.find_below(key, qtype)
    }

    /// [`Prepared::find`] for a question read by [`wire::question_key`], `key` its name
    /// ([`question_name`]); classes other than IN are REFUSED.
    #[inline]
    pub fn find_question(&self, question: &Question<'_>, key: &[u8], hash: u64) -> Found {
        if question.qclass != Class::IN {
            return self.found(REFUSED);
        }
        self.find(key, hash, question.qtype.0)
    }

    /// A name that does not exist: the closest encloser's answer for names below it.
    #[cold]
    fn find_below(&self, key: &[u8], qtype: u16) -> Found {
        let mut at = 0;
        while let Some(&len) = key.get(at) {
            if len == 0 {
                break;
            }
            at += 1 + len as usize;
            let Some(rest) = key.get(at..) else { break };
            if let Some(r) = self.names.find(rest, self.hash(rest)) {
                return self.found(match &self.below[self.names.below(r)] {
                    Below::Same(id) => *id,
                    Below::Wildcard(table) => table.get(qtype),
                });
            }
        }
        self.found(REFUSED)
    }

    fn found(&self, template: u32) -> Found {
        Found {
            flags: self.templates[template as usize].flags,
            template,
            frame: NO_FRAME,
        }
    }

    /// The answer `found` stands for.
    #[inline]
    pub fn answer_for(&self, found: Found) -> Answer<'_> {
        let mut answer = self.answer(found.template);
        answer.frame = found.frame;
        answer
    }

    /// Number of names (existing names and empty non-terminals) in the table.
    pub fn name_count(&self) -> usize {
        self.names.count
    }

    /// Number of prepared tails.
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Number of frames: distinct answers at existing names by question length, each
    /// one ready-made response a server can keep as a whole packet
    /// ([`Answer::frame`]).
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Frame `i`: its answer and the question length (name + 4) it is for.
    pub fn frame(&self, i: usize) -> Option<(Answer<'_>, usize)> {
        let &(template, qlen) = self.frames.get(i)?;
        let mut answer = self.answer(template);
        answer.frame = i as u32;
        Some((answer, usize::from(qlen)))
    }

    fn answer(&self, id: u32) -> Answer<'_> {
        let t = &self.templates[id as usize];
        Answer {
            flags: t.flags,
            counts: t.counts,
            tail: &self.tails[t.tail.0 as usize..t.tail.1 as usize],
            ends: &self.ends[t.ends.0 as usize..t.ends.1 as usize],
            required_ar: t.required_ar,
            frame: NO_FRAME,
        }
    }
}

/// The part of `key` (as [`wire::question_key`] writes it) that is `question`'s name.
#[inline]
pub fn question_name<'k>(question: &Question<'_>, key: &'k [u8]) -> &'k [u8] {
    &key[..question.name_len.min(key.len())]
}

/// Builds a [`SeededHasher`]-keyed table's hashers; see the module documentation.
#[derive(Clone, Debug)]
pub struct SeededHasher {
    seed: u64,
}

impl SeededHasher {
    /// A seed from the standard library's per-process random keys.
    pub fn new() -> Self {
        SeededHasher {
            seed: RandomState::new().hash_one(0x6e61_6d65_7374_6f72u64),
        }
    }
}

impl Default for SeededHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for SeededHasher {
    type Hasher = WordHasher;

    fn build_hasher(&self) -> WordHasher {
        WordHasher { state: self.seed }
    }
}

/// The hasher of [`SeededHasher`].
pub struct WordHasher {
    state: u64,
}

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        // A final mix so that the low bits (the bucket index) depend on every input bit.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

// ---------------------------------------------------------------------------------------
// Start-up: the zones as nodes and RRsets
// ---------------------------------------------------------------------------------------

/// RDATA with names as [`Name`]s, ready for [`MessageBuilder`] or literal writing.
#[derive(Debug, Clone)]
enum Rd {
    A([u8; 4]),
    Aaaa([u8; 16]),
    Ns(Name),
    Cname(Name),
    Ptr(Name),
    Mx(u16, Name),
    /// Boxed: two names would double every record's size.
    Soa(Box<Soa>),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Name,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Soa {
    mname: Name,
    rname: Name,
    /// Serial, refresh, retry, expire, minimum.
    values: [u32; 5],
}

impl Rd {
    fn as_wire(&self) -> wire::RData<'_> {
        match self {
            Rd::A(a) => wire::RData::A(*a),
            Rd::Aaaa(a) => wire::RData::Aaaa(*a),
            Rd::Ns(n) => wire::RData::Ns(n),
            Rd::Cname(n) => wire::RData::Cname(n),
            Rd::Ptr(n) => wire::RData::Ptr(n),
            Rd::Mx(preference, exchange) => wire::RData::Mx {
                preference: *preference,
                exchange,
            },
            Rd::Soa(soa) => {
                let [serial, refresh, retry, expire, minimum] = soa.values;
                wire::RData::Soa {
                    mname: &soa.mname,
                    rname: &soa.rname,
                    serial,
                    refresh,
                    retry,
                    expire,
                    minimum,
                }
            }
            Rd::Srv {
                priority,
                weight,
                port,
                target,
            } => wire::RData::Srv {
                priority: *priority,
                weight: *weight,
                port: *port,
                target,
            },
            Rd::Raw(b) => wire::RData::Raw(b),
        }
    }

    /// Uncompressed RDATA, for shared tails.
    fn put_literal(&self, out: &mut Vec<u8>) {
        match self {
            Rd::A(a) => out.extend_from_slice(a),
            Rd::Aaaa(a) => out.extend_from_slice(a),
            Rd::Ns(n) | Rd::Cname(n) | Rd::Ptr(n) => out.extend_from_slice(n.as_wire()),
            Rd::Mx(p, n) => {
                out.extend_from_slice(&p.to_be_bytes());
                out.extend_from_slice(n.as_wire());
            }
            Rd::Soa(soa) => {
                out.extend_from_slice(soa.mname.as_wire());
                out.extend_from_slice(soa.rname.as_wire());
                for v in soa.values {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Rd::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                for v in [priority, weight, port] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(target.as_wire());
            }
            Rd::Raw(b) => out.extend_from_slice(b),
        }
    }

    /// The name additional section processing looks up (RFC 1035 3.3.9, 3.3.11; RFC 2782).
    fn target(&self) -> Option<&Name> {
        match self {
            Rd::Ns(n) | Rd::Mx(_, n) | Rd::Srv { target: n, .. } => Some(n),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Rr {
    class: u16,
    ttl: u32,
    rd: Rd,
}

/// The records of one type at one name, in file order; `owner` as first written.
#[derive(Debug)]
struct RRset {
    rtype: u16,
    owner: Name,
    rrs: Vec<Rr>,
}

/// A name of a zone; no RRsets for an empty non-terminal.
#[derive(Debug, Default)]
struct NodeInfo {
    rrsets: Vec<RRset>,
}

impl NodeInfo {
    fn get(&self, rtype: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

struct ZoneData {
    /// Lowercase.
    apex: Name,
    /// Keyed by lowercase name.
    nodes: HashMap<Name, NodeInfo>,
    soa_owner: Name,
    soa: Rr,
}

fn name_of(wire: &[u8], zone: &[u8]) -> Result<Name, PrepareError> {
    Name::from_wire(wire).map_err(|_| PrepareError::BadName {
        zone: Name::from_wire(zone).map_or_else(|_| "?".into(), |n| n.to_string()),
    })
}

fn rd_of(r: &zone::Record, owner: &Name, zone: &[u8]) -> Result<Rd, PrepareError> {
    let bad = || PrepareError::BadRdata {
        owner: owner.to_string(),
        rtype: Rtype(r.rtype),
    };
    let n = |w: &[u8]| name_of(w, zone);
    Ok(match &r.rdata {
        zone::RData::A(a) => Rd::A(a.octets()),
        zone::RData::Aaaa(a) => Rd::Aaaa(a.octets()),
        zone::RData::Ns(w) => Rd::Ns(n(w)?),
        zone::RData::Cname(w) => Rd::Cname(n(w)?),
        zone::RData::Ptr(w) => Rd::Ptr(n(w)?),
        zone::RData::Mx {
            preference,
            exchange,
        } => Rd::Mx(*preference, n(exchange)?),
        zone::RData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => Rd::Soa(Box::new(Soa {
            mname: n(mname)?,
            rname: n(rname)?,
            values: [*serial, *refresh, *retry, *expire, *minimum],
        })),
        zone::RData::Srv {
            priority,
            weight,
            port,
            target,
        } => Rd::Srv {
            priority: *priority,
            weight: *weight,
            port: *port,
            target: n(target)?,
        },
        // RFC 1035 3.3.14: one or more <character-string>s.
        zone::RData::Txt(strings) => {
            let mut out = Vec::new();
            for s in strings {
                out.push(u8::try_from(s.len()).map_err(|_| bad())?);
                out.extend_from_slice(s);
            }
            Rd::Raw(out)
        }
        // RFC 8659 4.1: flags, tag length, tag, value.
        zone::RData::Caa { flags, tag, value } => {
            let mut out = vec![*flags, u8::try_from(tag.len()).map_err(|_| bad())?];
            out.extend_from_slice(tag);
            out.extend_from_slice(value);
            Rd::Raw(out)
        }
        // RFC 4034 5.1.
        zone::RData::Ds {
            key_tag,
            algorithm,
            digest_type,
            digest,
        } => {
            let mut out = key_tag.to_be_bytes().to_vec();
            out.extend_from_slice(&[*algorithm, *digest_type]);
            out.extend_from_slice(digest);
            Rd::Raw(out)
        }
        zone::RData::Other(b) => Rd::Raw(b.clone()),
    })
}

impl ZoneData {
    fn new(z: &Zone) -> Result<ZoneData, PrepareError> {
        let apex = name_of(&z.origin, &z.origin)?.to_lowercase();
        let mut nodes: HashMap<Name, NodeInfo> = HashMap::new();
        for r in &z.records {
            let owner = name_of(&r.owner, &z.origin)?;
            if !owner.is_subdomain_of(&apex) {
                return Err(PrepareError::NotInZone {
                    owner: owner.to_string(),
                    apex: apex.to_string(),
                });
            }
            let rr = Rr {
                class: r.class,
                ttl: r.ttl,
                rd: rd_of(r, &owner, &z.origin)?,
            };
            let node = nodes.entry(owner.to_lowercase()).or_default();
            match node.rrsets.iter_mut().find(|s| s.rtype == r.rtype) {
                Some(set) => set.rrs.push(rr),
                None => node.rrsets.push(RRset {
                    rtype: r.rtype,
                    owner,
                    rrs: vec![rr],
                }),
            }
        }
        // Empty non-terminals (RFC 4592 2.2.2) and the apex itself.
        let owners: Vec<Name> = nodes.keys().cloned().collect();
        nodes.entry(apex.clone()).or_default();
        for owner in owners {
            let mut up = owner.parent();
            while let Some(name) = up {
                if !name.is_subdomain_of(&apex) {
                    break;
                }
                up = name.parent();
                nodes.entry(name).or_default();
            }
        }
        let soa_set = nodes[&apex]
            .get(Rtype::SOA.0)
            .ok_or_else(|| PrepareError::NoSoa {
                apex: apex.to_string(),
            })?;
        let (soa_owner, soa) = (soa_set.owner.clone(), soa_set.rrs[0].clone());
        Ok(ZoneData {
            apex,
            nodes,
            soa_owner,
            soa,
        })
    }

    /// The topmost non-apex name at or above `name` with an NS RRset: the zone cut
    /// everything below it is delegated by (RFC 1034 4.2.1).
    fn cut_of(&self, name: &Name) -> Option<Name> {
        let mut top = None;
        let mut at = Some(name.clone());
        while let Some(n) = at {
            if n == self.apex || !n.is_subdomain_of(&self.apex) {
                break;
            }
            if self
                .nodes
                .get(&n)
                .is_some_and(|node| node.get(Rtype::NS.0).is_some())
            {
                top = Some(n.clone());
            }
            at = n.parent();
        }
        top
    }

    /// The node of `*.<name>`, if the zone has it.
    fn wildcard_below(&self, name: &Name) -> Option<&NodeInfo> {
        let mut w = vec![1, b'*'];
        w.extend_from_slice(name.as_wire());
        self.nodes.get(&Name::from_wire(&w).ok()?)
    }

    /// What a name (lowercase) is in this zone, for following CNAMEs at start-up.
    fn resolve(&self, name: &Name) -> Resolved<'_> {
        if !name.is_subdomain_of(&self.apex) || self.cut_of(name).is_some() {
            return Resolved::Elsewhere;
        }
        if let Some(node) = self.nodes.get(name) {
            return Resolved::Node(node, false);
        }
        let mut up = name.parent();
        while let Some(n) = up {
            if self.nodes.contains_key(&n) {
                return match self.wildcard_below(&n) {
                    Some(w) => Resolved::Node(w, true),
                    None => Resolved::NxDomain,
                };
            }
            up = n.parent();
        }
        Resolved::NxDomain
    }

    /// The nodes a CNAME chain from `node` reaches, each with the owner to write (the
    /// CNAME target as written), and whether it ends at a name that does not exist.
    fn walk_chain<'z>(
        &'z self,
        start: &Name,
        node: &'z NodeInfo,
    ) -> (Vec<(Name, &'z NodeInfo)>, bool) {
        let mut steps = Vec::new();
        let mut seen = vec![start.clone()];
        let mut at = node;
        for _ in 0..MAX_CHAIN {
            let Some(Rd::Cname(target)) = at.get(Rtype::CNAME.0).map(|s| &s.rrs[0].rd) else {
                break;
            };
            let key = target.to_lowercase();
            if seen.contains(&key) {
                break;
            }
            match self.resolve(&key) {
                Resolved::Elsewhere => break,
                Resolved::NxDomain => return (steps, true),
                Resolved::Node(n, synthesized) => {
                    let owner = match (synthesized, n.rrsets.first()) {
                        (false, Some(set)) => set.owner.clone(),
                        _ => target.clone(),
                    };
                    steps.push((owner, n));
                    seen.push(key);
                    at = n;
                }
            }
        }
        (steps, false)
    }
}

enum Resolved<'z> {
    /// Outside the zone or under a cut.
    Elsewhere,
    NxDomain,
    /// The node, and whether it is a wildcard answering for the name.
    Node(&'z NodeInfo, bool),
}

// ---------------------------------------------------------------------------------------
// Start-up: writing tails
// ---------------------------------------------------------------------------------------

/// Whose name a record's owner is.
#[derive(Clone, Copy)]
enum Owner<'a> {
    /// The question name (a pointer to 12).
    Query,
    Name(&'a Name),
}

#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Behind a question holding this name (lowercase): full compression.
    Exact(&'a Name),
    /// For any question: only pointers to 12.
    Shared,
}

/// Collects one tail's records, their ends and counts.
struct TailWriter<'s> {
    kind: Kind<'s>,
    counts: [u16; 3],
    /// See [`Template::required_ar`].
    required_ar: u16,
    ends: Vec<u16>,
}

// One lives on the stack while a tail is built; boxing the builder would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Kind<'s> {
    Exact {
        b: MessageBuilder<'s>,
        qname: Name,
        start: usize,
    },
    Shared(Vec<u8>),
}

impl TailWriter<'_> {
    fn rr(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        rtype: u16,
        rr: &Rr,
        ttl: u32,
    ) -> Result<(), PrepareError> {
        let too_large = |owner: Owner<'_>| PrepareError::TooLarge {
            owner: match owner {
                Owner::Query => "the query name".into(),
                Owner::Name(n) => n.to_string(),
            },
            rtype: Rtype(rtype),
        };
        let end = match &mut self.kind {
            Kind::Exact { b, qname, start } => {
                let name = match owner {
                    Owner::Query => &*qname,
                    Owner::Name(n) => n,
                };
                b.rr(
                    section,
                    name,
                    Rtype(rtype),
                    Class(rr.class),
                    ttl,
                    &rr.rd.as_wire(),
                )
                .map_err(|e| match e {
                    BuildError::Truncated => too_large(owner),
                    BuildError::SectionOrder => unreachable!("sections are written in order"),
                })?;
                b.len() - *start
            }
            Kind::Shared(out) => {
                match owner {
                    Owner::Query => out.extend_from_slice(&[0xc0, HEADER_LEN as u8]),
                    Owner::Name(n) => out.extend_from_slice(n.as_wire()),
                }
                out.extend_from_slice(&rtype.to_be_bytes());
                out.extend_from_slice(&rr.class.to_be_bytes());
                out.extend_from_slice(&ttl.to_be_bytes());
                let rdlen_at = out.len();
                out.extend_from_slice(&[0, 0]);
                rr.rd.put_literal(out);
                let rdlen = out.len() - rdlen_at - 2;
                out[rdlen_at..rdlen_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
                if out.len() > MAX_MESSAGE - MAX_QUESTION_PART {
                    return Err(too_large(owner));
                }
                out.len()
            }
        };
        self.ends.push(end as u16);
        let i = section as usize - Section::Answer as usize;
        self.counts[i] += 1;
        Ok(())
    }

    fn rrset(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        set: &RRset,
    ) -> Result<(), PrepareError> {
        for rr in &set.rrs {
            self.rr(section, owner, set.rtype, rr, rr.ttl)?;
        }
        Ok(())
    }
}

fn flags(aa: bool, rcode: Rcode) -> u16 {
    HeaderRepr {
        id: 0,
        qr: true,
        opcode: Opcode::QUERY,
        aa,
        tc: false,
        rd: false,
        ra: false,
        ad: false,
        cd: false,
        rcode,
        counts: Counts::default(),
    }
    .flags()
}

/// The content of the tails of one zone.
struct Content<'z> {
    z: &'z ZoneData,
}

impl Content<'_> {
    /// RFC 2308 3: the SOA in authority, TTL the lesser of its TTL and MINIMUM.
    fn soa(&self, w: &mut TailWriter<'_>) -> Result<(), PrepareError> {
        let minimum = match &self.z.soa.rd {
            Rd::Soa(soa) => soa.values[4],
            _ => self.z.soa.ttl,
        };
        let ttl = self.z.soa.ttl.min(minimum);
        w.rr(
            Section::Authority,
            Owner::Name(&self.z.soa_owner),
            Rtype::SOA.0,
            &self.z.soa,
            ttl,
        )
    }

    fn nodata(&self, w: &mut TailWriter<'_>) -> Result<u16, PrepareError> {
        self.soa(w)?;
        Ok(flags(true, Rcode::NOERROR))
    }

    fn nxdomain(&self, w: &mut TailWriter<'_>) -> Result<u16, PrepareError> {
        self.soa(w)?;
        Ok(flags(true, Rcode::NXDOMAIN))
    }

    /// A then AAAA of the in-zone targets of `sets` that `keep` accepts, each target once.
    fn additional(
        &self,
        w: &mut TailWriter<'_>,
        sets: &[&RRset],
        glue: bool,
        keep: impl Fn(&Name) -> bool,
    ) -> Result<(), PrepareError> {
        let mut done: Vec<Name> = Vec::new();
        for target in sets
            .iter()
            .flat_map(|s| s.rrs.iter())
            .filter_map(|rr| rr.rd.target())
        {
            let key = target.to_lowercase();
            if done.contains(&key) || !key.is_subdomain_of(&self.z.apex) || !keep(&key) {
                continue;
            }
            if !glue && self.z.cut_of(&key).is_some() {
                continue;
            }
            done.push(key.clone());
            let Some(node) = self.z.nodes.get(&key) else {
                continue;
            };
            for t in [Rtype::A, Rtype::AAAA] {
                if let Some(set) = node.get(t.0) {
                    w.rrset(Section::Additional, Owner::Name(&set.owner), set)?;
                }
            }
        }
        Ok(())
    }

    /// RFC 1034 4.3.2 step 3a: the RRset, owned by the question name.
    fn answer(&self, w: &mut TailWriter<'_>, set: &RRset) -> Result<u16, PrepareError> {
        w.rrset(Section::Answer, Owner::Query, set)?;
        self.additional(w, &[set], false, |_| true)?;
        Ok(flags(true, Rcode::NOERROR))
    }

    /// RFC 1034 4.3.2 step 3a with a CNAME: the chain, then `qtype` at its end.
    fn chain(
        &self,
        w: &mut TailWriter<'_>,
        name: &Name,
        node: &NodeInfo,
        qtype: u16,
    ) -> Result<u16, PrepareError> {
        let Some(cname) = node.get(Rtype::CNAME.0) else {
            return self.nodata(w);
        };
        w.rrset(Section::Answer, Owner::Query, cname)?;
        let (steps, nx) = self.z.walk_chain(name, node);
        for (owner, n) in &steps {
            if let Some(c) = n.get(Rtype::CNAME.0) {
                w.rrset(Section::Answer, Owner::Name(owner), c)?;
            } else if let Some(set) = n.get(qtype) {
                w.rrset(Section::Answer, Owner::Name(owner), set)?;
                self.additional(w, &[set], false, |_| true)?;
            } else {
                // RFC 2308 2.2: the chain ends in NODATA.
                self.soa(w)?;
            }
        }
        if nx {
            // RFC 6604 2: the RCODE is that of the last name of the chain.
            self.soa(w)?;
            return Ok(flags(true, Rcode::NXDOMAIN));
        }
        Ok(flags(true, Rcode::NOERROR))
    }

    /// RFC 1034 4.3.2 step 3b: NS in authority, glue in additional, AA clear. The glue
    /// of name servers under the cut comes first and is required (RFC 9471 2.1: a
    /// response without all of it has TC set); other in-zone addresses (sibling glue)
    /// follow and may be left out silently (RFC 9471 2.2).
    fn referral(&self, w: &mut TailWriter<'_>, cut: &Name) -> Result<u16, PrepareError> {
        let node = &self.z.nodes[cut];
        if let Some(ns) = node.get(Rtype::NS.0) {
            w.rrset(Section::Authority, Owner::Name(&ns.owner), ns)?;
            self.additional(w, &[ns], true, |t| t.is_subdomain_of(cut))?;
            w.required_ar = w.counts[2];
            self.additional(w, &[ns], true, |t| !t.is_subdomain_of(cut))?;
        }
        Ok(flags(false, Rcode::NOERROR))
    }
}

/// Start-up state: the arrays being filled and a scratch buffer for exact tails.
struct Store {
    templates: Vec<Template>,
    tails: Vec<u8>,
    ends: Vec<u16>,
    scratch: Vec<u8>,
}

impl Store {
    fn build(
        &mut self,
        mode: Mode<'_>,
        content: impl FnOnce(&mut TailWriter<'_>) -> Result<u16, PrepareError>,
    ) -> Result<u32, PrepareError> {
        let (flags, counts, required_ar, ends, tail_len) = match mode {
            Mode::Exact(qname) => {
                let mut b = MessageBuilder::new(&mut self.scratch).expect("scratch holds a header");
                b.question(qname, Rtype(NO_TYPE), Class::IN)
                    .expect("a name fits 64 KiB");
                let start = b.len();
                let mut w = TailWriter {
                    kind: Kind::Exact {
                        b,
                        qname: qname.clone(),
                        start,
                    },
                    counts: [0; 3],
                    required_ar: 0,
                    ends: Vec::new(),
                };
                let flags = content(&mut w)?;
                let TailWriter {
                    kind,
                    counts,
                    required_ar,
                    ends,
                } = w;
                let Kind::Exact { b, .. } = kind else {
                    unreachable!("built as exact")
                };
                let len = b.finish();
                self.tails.extend_from_slice(&self.scratch[start..len]);
                (flags, counts, required_ar, ends, len - start)
            }
            Mode::Shared => {
                let mut w = TailWriter {
                    kind: Kind::Shared(Vec::new()),
                    counts: [0; 3],
                    required_ar: 0,
                    ends: Vec::new(),
                };
                let flags = content(&mut w)?;
                let Kind::Shared(out) = w.kind else {
                    unreachable!("built as shared")
                };
                self.tails.extend_from_slice(&out);
                (flags, w.counts, w.required_ar, w.ends, out.len())
            }
        };
        let tail_end = self.tails.len() as u32;
        let ends_start = self.ends.len() as u32;
        self.ends.extend_from_slice(&ends);
        self.templates.push(Template {
            flags,
            counts: Counts {
                qd: 1,
                an: counts[0],
                ns: counts[1],
                ar: counts[2],
            },
            required_ar,
            tail: (tail_end - tail_len as u32, tail_end),
            ends: (ends_start, self.ends.len() as u32),
        });
        Ok((self.templates.len() - 1) as u32)
    }

    /// Answers at an authoritative node (or synthesized from a wildcard node, shared).
    fn type_table(
        &mut self,
        c: &Content<'_>,
        name: &Name,
        node: &NodeInfo,
        mode: Mode<'_>,
    ) -> Result<TypeTable, PrepareError> {
        let mut types = Vec::new();
        let other;
        if let Some(cname) = node.get(Rtype::CNAME.0) {
            let id = self.build(mode, |w| {
                w.rrset(Section::Answer, Owner::Query, cname)?;
                Ok(flags(true, Rcode::NOERROR))
            })?;
            // RFC 8482 4.2: the CNAME is the one RRset for ANY.
            types.extend([(Rtype::CNAME.0, id), (Rtype::ANY.0, id)]);
            let (steps, nx) = c.z.walk_chain(name, node);
            if let (Some((_, last)), false) = (steps.last(), nx) {
                for set in last.rrsets.iter().filter(|s| s.rtype != Rtype::CNAME.0) {
                    let id = self.build(mode, |w| c.chain(w, name, node, set.rtype))?;
                    types.push((set.rtype, id));
                }
            }
            other = self.build(mode, |w| c.chain(w, name, node, NO_TYPE))?;
        } else {
            for set in &node.rrsets {
                let id = self.build(mode, |w| c.answer(w, set))?;
                types.push((set.rtype, id));
            }
            // RFC 8482 4.2: one RRset, the first in the zone file.
            if let Some(&(_, first)) = types.first() {
                types.push((Rtype::ANY.0, first));
            }
            other = self.build(mode, |w| c.nodata(w))?;
        }
        Ok(TypeTable {
            types: types.into_boxed_slice(),
            other,
        })
    }
}

/// Prepares every response of `zones`; see the module documentation.
pub fn prepare(zones: &[Zone]) -> Result<Prepared, PrepareError> {
    let data = zones
        .iter()
        .map(ZoneData::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut apexes = HashSet::new();
    for z in &data {
        if !apexes.insert(z.apex.clone()) {
            return Err(PrepareError::DuplicateZone {
                apex: z.apex.to_string(),
            });
        }
    }
    let mut store = Store {
        templates: Vec::new(),
        tails: Vec::new(),
        ends: Vec::new(),
        scratch: vec![0; MAX_MESSAGE],
    };
    let refused = store.build(Mode::Shared, |_| Ok(flags(false, Rcode::REFUSED)))?;
    debug_assert_eq!(refused, REFUSED);
    let mut nodes: HashMap<Box<[u8]>, Node> = HashMap::new();
    // DS answers the parent gives for the apex of a child zone we also serve.
    let mut parent_ds: Vec<(Name, u32)> = Vec::new();
    for z in &data {
        let c = Content { z };
        let nx = store.build(Mode::Shared, |w| c.nxdomain(w))?;
        let mut referrals: HashMap<Name, u32> = HashMap::new();
        for (name, node) in &z.nodes {
            // A name at or under a deeper zone's apex is that zone's.
            let mut up = Some(name.clone());
            let mut deeper = false;
            while let Some(n) = up {
                if n == z.apex {
                    break;
                }
                deeper |= apexes.contains(&n);
                up = n.parent();
            }
            if deeper {
                // RFC 4035 3.1.4.1: the DS RRset at a cut is the parent's, even when the
                // child zone is served here too.
                if apexes.contains(name) && z.cut_of(name).as_ref() == Some(name) {
                    let ds = match node.get(Rtype::DS.0) {
                        Some(set) => store.build(Mode::Exact(name), |w| c.answer(w, set))?,
                        None => store.build(Mode::Exact(name), |w| c.nodata(w))?,
                    };
                    parent_ds.push((name.clone(), ds));
                }
                continue;
            }
            let cut = z.cut_of(name);
            let referral = match &cut {
                Some(cut) => Some(match referrals.get(cut) {
                    Some(&id) => id,
                    None => {
                        let id = store.build(Mode::Shared, |w| c.referral(w, cut))?;
                        referrals.insert(cut.clone(), id);
                        id
                    }
                }),
                None => None,
            };
            let (exact, below) = match (cut, referral) {
                (Some(cut), Some(referral)) => {
                    let mut types = Vec::new();
                    if cut == *name {
                        // RFC 4035 3.1.4.1: DS belongs to the parent side of the cut.
                        let ds = match node.get(Rtype::DS.0) {
                            Some(set) => store.build(Mode::Exact(name), |w| c.answer(w, set))?,
                            None => store.build(Mode::Exact(name), |w| c.nodata(w))?,
                        };
                        types.push((Rtype::DS.0, ds));
                    }
                    let table = TypeTable {
                        types: types.into_boxed_slice(),
                        other: referral,
                    };
                    (table, Below::Same(referral))
                }
                _ => {
                    let exact = store.type_table(&c, name, node, Mode::Exact(name))?;
                    let below = match z.wildcard_below(name) {
                        Some(wild) => {
                            Below::Wildcard(store.type_table(&c, name, wild, Mode::Shared)?)
                        }
                        None => Below::Same(nx),
                    };
                    (exact, below)
                }
            };
            nodes.insert(Box::from(name.as_wire()), Node { exact, below });
        }
    }
    for (name, ds) in parent_ds {
        if let Some(node) = nodes.get_mut(name.as_wire()) {
            let mut types: Vec<(u16, u32)> = node
                .exact
                .types
                .iter()
                .copied()
                .filter(|&(t, _)| t != Rtype::DS.0)
                .collect();
            types.push((Rtype::DS.0, ds));
            node.exact.types = types.into_boxed_slice();
        }
    }
    // One frame per distinct (template, question length): ANY shares its RRset's, and a
    // referral at a cut is shared by cuts of the same name length.
    let mut frames = Vec::new();
    let mut seen: HashMap<(u32, u16), u32> = HashMap::new();
    let mut below = Vec::with_capacity(nodes.len());
    let templates = &store.templates;
    let names = NameTable::build(nodes.into_iter(), |name, node, out| {
        let qlen = (name.len() + 4) as u16;
        let types = node.exact.types.iter().map(|&(t, id)| (t, id));
        for (qtype, template) in types.chain(std::iter::once((NO_TYPE, node.exact.other))) {
            let frame = *seen.entry((template, qlen)).or_insert_with(|| {
                frames.push((template, qlen));
                (frames.len() - 1) as u32
            });
            out.extend_from_slice(&qtype.to_le_bytes());
            out.extend_from_slice(&templates[template as usize].flags.to_le_bytes());
            out.extend_from_slice(&template.to_le_bytes());
            out.extend_from_slice(&frame.to_le_bytes());
        }
        let entries = node.exact.types.len();
        below.push(node.below);
        (entries, (below.len() - 1) as u32)
    })?;
    Ok(Prepared {
        names,
        below,
        templates: store.templates,
        tails: store.tails,
        ends: store.ends,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::{parse_name, parse_question, parse_record, question_key, RecordRepr};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/zones")
            .join(name)
    }

    fn prepared(files: &[&str]) -> Prepared {
        let zones: Vec<Zone> = files
            .iter()
            .map(|f| zone::load(&fixture(f), None).unwrap())
            .collect();
        prepare(&zones).unwrap()
    }

    /// A response read back whole: every name (pointers included) decoded, every record
    /// rendered as `owner ttl TYPE data`.
    #[derive(Debug)]
    struct Response {
        header: HeaderRepr,
        question: Vec<u8>,
        answer: Vec<String>,
        authority: Vec<String>,
        additional: Vec<String>,
    }

    fn render(msg: &[u8], rr: &RecordRepr) -> String {
        let d = &msg[rr.rdata.clone()];
        let name_at = |at: usize| {
            let (n, end) = parse_name(msg, at).unwrap();
            (n.to_string(), end)
        };
        let data = match rr.rtype {
            Rtype::A => Ipv4Addr::from(<[u8; 4]>::try_from(d).unwrap()).to_string(),
            Rtype::AAAA => Ipv6Addr::from(<[u8; 16]>::try_from(d).unwrap()).to_string(),
            Rtype::NS | Rtype::CNAME | Rtype::PTR => {
                let (n, end) = name_at(rr.rdata.start);
                assert_eq!(end, rr.rdata.end);
                n
            }
            Rtype::MX => {
                let (n, end) = name_at(rr.rdata.start + 2);
                assert_eq!(end, rr.rdata.end);
                format!("{} {n}", u16::from_be_bytes([d[0], d[1]]))
            }
            Rtype::SOA => {
                let (m, end) = name_at(rr.rdata.start);
                let (r, end) = name_at(end);
                assert_eq!(end + 20, rr.rdata.end);
                let v =
                    |i: usize| u32::from_be_bytes(msg[end + i..end + i + 4].try_into().unwrap());
                format!("{m} {r} {} {}", v(0), v(16))
            }
            Rtype::SRV => {
                let (n, end) = name_at(rr.rdata.start + 6);
                assert_eq!(end, rr.rdata.end);
                let v = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
                format!("{} {} {} {n}", v(0), v(2), v(4))
            }
            _ => d.iter().map(|b| format!("{b:02x}")).collect(),
        };
        format!("{} {} {} {data}", rr.name, rr.ttl, rr.rtype)
    }

    fn parse_response(msg: &[u8]) -> Response {
        let packet = DnsPacket::new_checked(msg).unwrap();
        let header = HeaderRepr::parse(&packet);
        assert_eq!(header.counts.qd, 1);
        let (_, mut pos) = parse_question(msg, HEADER_LEN).unwrap();
        let question = msg[HEADER_LEN..pos].to_vec();
        let mut sections = [Vec::new(), Vec::new(), Vec::new()];
        let c = header.counts;
        for (section, count) in sections.iter_mut().zip([c.an, c.ns, c.ar]) {
            for _ in 0..count {
                let (rr, next) = parse_record(msg, pos).unwrap();
                assert_eq!(rr.class, Class::IN);
                section.push(render(msg, &rr));
                pos = next;
            }
        }
        assert_eq!(pos, msg.len(), "octets after the last record");
        let [answer, authority, additional] = sections;
        Response {
            header,
            question,
            answer,
            authority,
            additional,
        }
    }

    fn query(name: &str, qtype: Rtype, qclass: Class) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf).unwrap();
        b.header(&HeaderRepr {
            id: 0xbeef,
            qr: false,
            opcode: Opcode::QUERY,
            aa: false,
            tc: false,
            rd: true,
            ra: false,
            ad: false,
            cd: false,
            rcode: Rcode::NOERROR,
            counts: Counts::default(),
        });
        b.question(&Name::from_ascii(name).unwrap(), qtype, qclass)
            .unwrap();
        let len = b.finish();
        buf[..len].to_vec()
    }

    /// What the server does: key, lookup, write; then the checks every response passes.
    fn exchange(p: &Prepared, msg: &[u8], max_len: usize) -> (Response, usize) {
        let mut key = [0; MAX_NAME_LEN];
        let q = question_key(msg, &mut key).unwrap();
        let answer = p.lookup_question(&q, &key);
        let mut out = vec![0; MAX_MESSAGE];
        let len = answer
            .write(0xbeef, true, q.raw, max_len, &mut out)
            .unwrap();
        assert!(len <= max_len);
        let r = parse_response(&out[..len]);
        assert!(r.header.qr && r.header.rd);
        assert_eq!(r.header.id, 0xbeef);
        assert_eq!(r.question, q.raw, "question echoed exactly");
        (r, len)
    }

    fn ask(p: &Prepared, name: &str, qtype: Rtype) -> Response {
        exchange(p, &query(name, qtype, Class::IN), MAX_MESSAGE).0
    }

    fn example() -> Prepared {
        prepared(&["example.com.zone"])
    }

    const SOA_NEG: &str =
        "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024010101 300";

    #[test]
    fn existing_type_is_answered_with_additional_addresses() {
        let p = example();
        let r = ask(&p, "example.com", Rtype::MX);
        assert!(r.header.aa && !r.header.tc);
        assert_eq!(r.header.rcode, Rcode::NOERROR);
        assert_eq!(r.answer, ["example.com. 3600 MX 10 mail.example.com."]);
        assert!(r.authority.is_empty());
        assert_eq!(r.additional, ["mail.example.com. 600 A 192.0.2.2"]);

        let r = ask(&p, "example.com", Rtype::NS);
        assert_eq!(
            r.answer,
            [
                "example.com. 3600 NS ns1.example.com.",
                "example.com. 3600 NS ns2.example.net."
            ]
        );
        assert_eq!(
            r.additional,
            [
                "ns1.example.com. 3600 A 192.0.2.1",
                "ns1.example.com. 3600 AAAA 2001:db8::1"
            ]
        );

        let r = ask(&p, "_sip._tcp.example.com", Rtype::SRV);
        assert_eq!(
            r.answer,
            ["_sip._tcp.example.com. 3600 SRV 10 60 5060 host.example.com."]
        );
        assert_eq!(r.additional, ["Host.example.com. 3600 A 192.0.2.3"]);
    }

    #[test]
    fn every_type_of_the_example_zone_is_answered() {
        let p = example();
        for (name, t, want) in [
            (
                "ns1.example.com",
                Rtype::AAAA,
                "ns1.example.com. 3600 AAAA 2001:db8::1",
            ),
            (
                "1.example.com",
                Rtype::PTR,
                "1.example.com. 3600 PTR host.example.com.",
            ),
            (
                "example.com",
                Rtype::CAA,
                "example.com. 3600 CAA 0005697373756563612e6578616d706c652e6e6574",
            ),
            (
                "secure.example.com",
                Rtype::DS,
                "secure.example.com. 3600 DS ec4505012bb183af5f22588179a53b0a98631fad1a292118",
            ),
            (
                "info.example.com",
                Rtype(13),
                "info.example.com. 3600 TYPE13 025043054c696e7578",
            ),
            (
                "inc.example.com",
                Rtype::TXT,
                "inc.example.com. 3600 TXT 08696e636c75646564",
            ),
            (
                "mx.inc.example.com",
                Rtype::MX,
                "mx.inc.example.com. 60 MX 5 mail.example.com.",
            ),
        ] {
            let r = ask(&p, name, t);
            assert_eq!(r.answer, [want], "{name} {t}");
            assert!(r.header.aa);
        }
    }

    #[test]
    fn mixed_case_question_comes_back_in_its_case() {
        let p = example();
        let r = ask(&p, "ExAmPlE.CoM", Rtype::MX);
        // The exchange's "example.com" is a pointer into the question, so it takes the
        // question's case, as MessageBuilder's compression allows for any name.
        assert_eq!(r.answer, ["ExAmPlE.CoM. 3600 MX 10 mail.ExAmPlE.CoM."]);
        let r = ask(&p, "hOsT.eXample.COM", Rtype::A);
        assert_eq!(r.answer, ["hOsT.eXample.COM. 3600 A 192.0.2.3"]);
        let r = ask(&p, "NoPe.ExAmPlE.CoM", Rtype::A);
        assert_eq!(r.header.rcode, Rcode::NXDOMAIN);
        let r = ask(&p, "X.WILD.example.COM", Rtype::A);
        assert_eq!(r.answer, ["X.WILD.example.COM. 3600 A 192.0.2.10"]);
    }

    #[test]
    fn cname_chain_is_followed_in_zone() {
        let p = example();
        let r = ask(&p, "www.example.com", Rtype::A);
        assert!(r.header.aa);
        assert_eq!(r.header.rcode, Rcode::NOERROR);
        assert_eq!(
            r.answer,
            [
                "www.example.com. 3600 CNAME alias.example.com.",
                "alias.example.com. 3600 CNAME Host.example.com.",
                "Host.example.com. 3600 A 192.0.2.3"
            ]
        );
        // RFC 2308 2.2: the chain ends in NODATA.
        let r = ask(&p, "www.example.com", Rtype::AAAA);
        assert_eq!(r.answer.len(), 2);
        assert_eq!(r.authority, [SOA_NEG]);
        // The CNAME itself, and ANY (RFC 8482), are the CNAME alone.
        for t in [Rtype::CNAME, Rtype::ANY] {
            let r = ask(&p, "www.example.com", t);
            assert_eq!(r.answer, ["www.example.com. 3600 CNAME alias.example.com."]);
            assert!(r.authority.is_empty());
        }
    }

    #[test]
    fn cname_loops_exits_and_dangling_targets_stop() {
        let p = prepared(&["prepare.test.zone"]);
        let r = ask(&p, "loop1.prepare.test", Rtype::A);
        assert_eq!(
            r.answer,
            [
                "loop1.prepare.test. 600 CNAME loop2.prepare.test.",
                "loop2.prepare.test. 600 CNAME loop1.prepare.test."
            ]
        );
        let r = ask(&p, "out.prepare.test", Rtype::A);
        assert_eq!(r.answer, ["out.prepare.test. 600 CNAME www.example.net."]);
        assert!(r.authority.is_empty() && r.header.rcode == Rcode::NOERROR);
        let r = ask(&p, "todeleg.prepare.test", Rtype::A);
        assert_eq!(
            r.answer,
            ["todeleg.prepare.test. 600 CNAME host.sec.prepare.test."]
        );
        // RFC 6604 2: NXDOMAIN for the last name of the chain.
        let r = ask(&p, "dangling.prepare.test", Rtype::A);
        assert_eq!(r.header.rcode, Rcode::NXDOMAIN);
        assert_eq!(
            r.answer,
            ["dangling.prepare.test. 600 CNAME missing.prepare.test."]
        );
        assert_eq!(r.authority.len(), 1);
    }

    #[test]
    fn cname_chain_into_a_wildcard_gets_the_synthesized_rrset() {
        let p = prepared(&["prepare.test.zone"]);
        let r = ask(&p, "towild.prepare.test", Rtype::A);
        assert_eq!(
            r.answer,
            [
                "towild.prepare.test. 600 CNAME Foo.blk.prepare.test.",
                "Foo.blk.prepare.test. 600 A 192.0.2.30"
            ]
        );
        let r = ask(&p, "towild.prepare.test", Rtype::MX);
        assert_eq!(
            r.answer[1],
            "Foo.blk.prepare.test. 600 MX 10 ns1.prepare.test."
        );
        assert_eq!(r.additional.len(), 2);
    }

    #[test]
    fn synthetic_zone_of_ten_thousand_names_is_prepared() {
        let text = zone::synthetic(10_000);
        let z = zone::load_str(&text, Path::new("synthetic"), None).unwrap();
        let p = prepare(&[z]).unwrap();
        let r = ask(&p, "H9999.synthetic.test", Rtype::A);
        assert_eq!(r.answer, ["H9999.synthetic.test. 3600 A 198.18.39.15"]);
        let r = ask(&p, "h10000.synthetic.test", Rtype::A);
        assert_eq!(r.header.rcode, Rcode::NXDOMAIN);
        assert!(p.template_count() < 3 * 10_010);
    }

    #[test]
    fn missing_type_is_nodata_with_soa_at_negative_ttl() {
        let p = example();
        for name in ["ns1.example.com", "_tcp.example.com", "wild.example.com"] {
            let r = ask(&p, name, Rtype::MX);
            assert!(r.header.aa, "{name}");
            assert_eq!(r.header.rcode, Rcode::NOERROR, "{name}");
            assert!(r.answer.is_empty() && r.additional.is_empty());
            assert_eq!(r.authority, [SOA_NEG], "{name}");
        }
    }

    #[test]
    fn missing_name_is_nxdomain_with_soa() {
        let p = example();
        for name in [
            "nope.example.com",
            "a.b.nope.example.com",
            "x.www.example.com",
        ] {
            let r = ask(&p, name, Rtype::A);
            assert!(r.header.aa);
            assert_eq!(r.header.rcode, Rcode::NXDOMAIN, "{name}");
            assert!(r.answer.is_empty());
            assert_eq!(r.authority, [SOA_NEG]);
        }
    }

    #[test]
    fn names_at_and_below_a_cut_get_a_referral_with_glue() {
        let p = example();
        for (name, t) in [
            ("sub.example.com", Rtype::NS),
            ("sub.example.com", Rtype::A),
            ("sub.example.com", Rtype::ANY),
            ("www.sub.example.com", Rtype::A),
            ("a.b.sub.example.com", Rtype::DS),
            ("ns.sub.example.com", Rtype::A),
        ] {
            let r = ask(&p, name, t);
            assert!(!r.header.aa, "{name} {t}");
            assert_eq!(r.header.rcode, Rcode::NOERROR);
            assert!(r.answer.is_empty());
            assert_eq!(
                r.authority,
                ["sub.example.com. 3600 NS ns.sub.example.com."]
            );
            assert_eq!(r.additional, ["ns.sub.example.com. 3600 A 192.0.2.53"]);
        }
    }

    #[test]
    fn ds_at_a_cut_is_answered_by_the_parent() {
        let p = example();
        let r = ask(&p, "sub.example.com", Rtype::DS);
        assert!(r.header.aa);
        assert!(r.answer.is_empty());
        assert_eq!(r.authority, [SOA_NEG]);

        let p = prepared(&["prepare.test.zone"]);
        let r = ask(&p, "SEC.prepare.test", Rtype::DS);
        assert!(r.header.aa);
        assert_eq!(r.answer.len(), 1);
        assert!(r.answer[0].starts_with("SEC.prepare.test. 600 DS 3039"));
        let r = ask(&p, "sec.prepare.test", Rtype::A);
        assert!(!r.header.aa);
        assert_eq!(
            r.authority,
            [
                "sec.prepare.test. 600 NS ns.sec.prepare.test.",
                "sec.prepare.test. 600 NS ns1.prepare.test."
            ]
        );
        // In-zone glue and the sibling name server's addresses.
        assert_eq!(
            r.additional,
            [
                "ns.sec.prepare.test. 600 A 192.0.2.20",
                "ns1.prepare.test. 600 A 192.0.2.1",
                "ns1.prepare.test. 600 AAAA 2001:db8::1"
            ]
        );
    }

    /// The answer's frame for `name` `qtype`, checked against the lookup's own answer.
    fn frame_of(p: &Prepared, name: &str, qtype: Rtype) -> Option<usize> {
        let msg = query(name, qtype, Class::IN);
        let mut key = [0; MAX_NAME_LEN];
        let q = question_key(&msg, &mut key).unwrap();
        let answer = p.lookup_question(&q, &key);
        let i = answer.frame()?;
        let (framed, qlen) = p.frame(i).unwrap();
        assert_eq!(
            qlen,
            q.raw.len(),
            "{name} {qtype:?}: the frame's question length"
        );
        assert_eq!(framed.tail(), answer.tail(), "{name} {qtype:?}");
        assert_eq!(framed.flags(), answer.flags(), "{name} {qtype:?}");
        assert_eq!(framed.counts(), answer.counts(), "{name} {qtype:?}");
        Some(i)
    }

    #[test]
    fn answers_at_existing_names_have_frames_and_shared_ones_do_not() {
        let p = example();
        let a = frame_of(&p, "www.example.com", Rtype::A).expect("exact A");
        assert_eq!(
            frame_of(&p, "WWW.Example.COM", Rtype::A),
            Some(a),
            "any case"
        );
        let nodata = frame_of(&p, "www.example.com", Rtype::SRV).expect("NODATA");
        assert_eq!(
            frame_of(&p, "www.example.com", Rtype::CAA),
            Some(nodata),
            "one NODATA frame for every missing type"
        );
        assert_ne!(a, nodata);
        let soa = frame_of(&p, "example.com", Rtype::SOA).expect("apex SOA");
        assert_eq!(
            frame_of(&p, "example.com", Rtype::ANY),
            Some(soa),
            "ANY shares its RRset's frame"
        );
        for name in [
            "nope.example.com",
            "a.wild.example.com",
            "x.sub.example.com",
        ] {
            assert_eq!(frame_of(&p, name, Rtype::A), None, "{name}: shared answer");
        }
        assert_eq!(frame_of(&p, "example.org", Rtype::A), None, "REFUSED");
        assert!(p.frame(p.frame_count()).is_none());
        // Every frame is reachable and distinct per (tail, question length).
        let mut seen = HashSet::new();
        for i in 0..p.frame_count() {
            let (answer, qlen) = p.frame(i).unwrap();
            assert!(seen.insert((answer.tail().as_ptr(), answer.tail().len(), qlen)));
        }
    }

    #[test]
    fn a_referral_without_all_its_in_domain_glue_has_tc_and_sibling_glue_is_optional() {
        // `big` has 8 name servers under the cut, each with A and AAAA: about 1000
        // octets of referral. `sib` has its servers in `big` (sibling glue only).
        let mut text = String::from(
            "$ORIGIN glue.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
        );
        for i in 0..8 {
            text.push_str(&format!(
                "big NS ns{i}.big\nns{i}.big A 192.0.2.{i}\nns{i}.big AAAA 2001:db8::{i}\n"
            ));
            text.push_str(&format!("sib NS ns{i}.big\n"));
        }
        let z = zone::load_str(&text, Path::new("glue.test.zone"), None).unwrap();
        let p = prepare(&[z]).unwrap();
        let q = query("www.big.glue.test", Rtype::A, Class::IN);
        let (whole, _) = exchange(&p, &q, MAX_MESSAGE);
        assert!(!whole.header.tc && !whole.header.aa);
        assert_eq!((whole.authority.len(), whole.additional.len()), (8, 16));
        let (cut, len) = exchange(&p, &q, 512);
        assert!(len <= 512);
        assert!(cut.header.tc, "in-domain glue left out: TC (RFC 9471 2.1)");
        assert_eq!(cut.authority.len(), 8, "every NS fits");
        assert!(cut.additional.len() < 16);
        // The same servers as sibling glue: left out without TC.
        let q = query("www.sib.glue.test", Rtype::A, Class::IN);
        let (whole, _) = exchange(&p, &q, MAX_MESSAGE);
        assert_eq!((whole.authority.len(), whole.additional.len()), (8, 16));
        let (cut, len) = exchange(&p, &q, 512);
        assert!(len <= 512);
        assert!(!cut.header.tc, "sibling glue is optional (RFC 9471 2.2)");
        assert_eq!(cut.authority.len(), 8);
        assert!(cut.additional.len() < 16);
    }

    #[test]
    fn wildcard_synthesizes_with_the_query_name() {
        let p = example();
        for name in ["a.wild.example.com", "x.y.wild.example.com"] {
            let r = ask(&p, name, Rtype::A);
            assert!(r.header.aa);
            assert_eq!(r.answer, [format!("{name}. 3600 A 192.0.2.10")]);
            // The owner is a pointer to the question.
            let r = ask(&p, name, Rtype::MX);
            assert_eq!(r.header.rcode, Rcode::NOERROR);
            assert_eq!(r.authority, [SOA_NEG]);
        }
        // The wildcard's own name answers as itself.
        let r = ask(&p, "*.wild.example.com", Rtype::A);
        assert_eq!(r.answer, ["*.wild.example.com. 3600 A 192.0.2.10"]);
    }

    #[test]
    fn empty_non_terminal_blocks_the_wildcard() {
        let p = prepared(&["prepare.test.zone"]);
        let neg = "prepare.test. 600 SOA ns1.prepare.test. hostmaster.prepare.test. 1 900";
        let r = ask(&p, "q.blk.prepare.test", Rtype::MX);
        assert_eq!(
            r.answer,
            ["q.blk.prepare.test. 600 MX 10 ns1.prepare.test."]
        );
        assert_eq!(
            r.additional,
            [
                "ns1.prepare.test. 600 A 192.0.2.1",
                "ns1.prepare.test. 600 AAAA 2001:db8::1"
            ]
        );
        // RFC 4592 2.2.2: y.blk exists (empty), so x.y.blk does not match *.blk.
        let r = ask(&p, "y.blk.prepare.test", Rtype::A);
        assert_eq!((r.header.rcode, r.answer.len()), (Rcode::NOERROR, 0));
        assert_eq!(r.authority, [neg]);
        let r = ask(&p, "x.y.blk.prepare.test", Rtype::A);
        assert_eq!(r.header.rcode, Rcode::NXDOMAIN);
        assert_eq!(r.authority, [neg]);
        let r = ask(&p, "z.y.blk.prepare.test", Rtype::A);
        assert_eq!(r.answer, ["z.y.blk.prepare.test. 600 A 192.0.2.31"]);
    }

    #[test]
    fn wildcard_cname_is_followed() {
        let p = prepared(&["prepare.test.zone"]);
        let r = ask(&p, "Foo.Wc.prepare.test", Rtype::AAAA);
        assert_eq!(
            r.answer,
            [
                "Foo.Wc.prepare.test. 600 CNAME ns1.prepare.test.",
                "ns1.prepare.test. 600 AAAA 2001:db8::1"
            ]
        );
        let r = ask(&p, "foo.wc.prepare.test", Rtype::TXT);
        assert_eq!(r.answer.len(), 1);
        assert_eq!(r.authority.len(), 1);
    }

    #[test]
    fn any_gets_one_rrset() {
        let p = example();
        let r = ask(&p, "example.com", Rtype::ANY);
        assert_eq!(r.answer.len(), 1);
        assert!(r.answer[0].starts_with("example.com. 3600 SOA "));
        let r = ask(&p, "ns1.example.com", Rtype::ANY);
        assert_eq!(r.answer, ["ns1.example.com. 3600 A 192.0.2.1"]);
        let r = ask(&p, "q.wild.example.com", Rtype::ANY);
        assert_eq!(r.answer, ["q.wild.example.com. 3600 A 192.0.2.10"]);
        let r = ask(&p, "_tcp.example.com", Rtype::ANY);
        assert_eq!((r.answer.len(), r.authority.len()), (0, 1));
    }

    #[test]
    fn names_outside_our_zones_and_other_classes_are_refused() {
        let p = example();
        for name in [
            "example.org",
            "com",
            ".",
            "xexample.com",
            "example.com.evil",
        ] {
            let r = ask(&p, name, Rtype::A);
            assert_eq!(r.header.rcode, Rcode::REFUSED, "{name}");
            assert!(!r.header.aa);
            assert!(r.answer.is_empty() && r.authority.is_empty());
        }
        let (r, _) = exchange(&p, &query("example.com", Rtype::A, Class::CH), 512);
        assert_eq!(r.header.rcode, Rcode::REFUSED);
        // Garbage keys never panic.
        assert_eq!(p.lookup(&[5, b'a'], 1).rcode(), Rcode::REFUSED);
        assert_eq!(p.lookup(&[], 1).rcode(), Rcode::REFUSED);
    }

    #[test]
    fn deeper_zone_owns_its_names() {
        let p = prepared(&["prepare.test.zone", "child.prepare.test.zone"]);
        let r = ask(&p, "www.child.prepare.test", Rtype::A);
        assert!(r.header.aa);
        assert_eq!(r.answer, ["www.child.prepare.test. 300 A 192.0.2.42"]);
        let r = ask(&p, "child.prepare.test", Rtype::NS);
        assert!(r.header.aa);
        assert_eq!(
            r.answer,
            ["child.prepare.test. 300 NS ns.child.prepare.test."]
        );
        // The parent's occluded name is not the child's.
        let r = ask(&p, "old.child.prepare.test", Rtype::A);
        assert_eq!(r.header.rcode, Rcode::NXDOMAIN);
        assert!(r.authority[0].starts_with("child.prepare.test. 60 SOA"));
        // Without the child, the parent refers.
        let p = prepared(&["prepare.test.zone"]);
        let r = ask(&p, "www.child.prepare.test", Rtype::A);
        assert!(!r.header.aa);
        assert_eq!(
            r.authority,
            ["child.prepare.test. 600 NS ns.child.prepare.test."]
        );
        assert_eq!(r.additional, ["ns.child.prepare.test. 600 A 192.0.2.40"]);
    }

    #[test]
    fn same_zone_twice_is_an_error() {
        let z = zone::load(&fixture("example.com.zone"), None).unwrap();
        let err = prepare(&[z.clone(), z]).err().unwrap();
        assert_eq!(err.to_string(), "zone example.com. is loaded twice");
    }

    #[test]
    fn large_answer_is_truncated_with_tc_at_512_and_whole_at_4096() {
        let p = prepared(&["prepare.test.zone"]);
        let msg = query("big.prepare.test", Rtype::TXT, Class::IN);
        let (r, len) = exchange(&p, &msg, 4096);
        assert!(!r.header.tc && len > 512);
        assert_eq!(r.answer.len(), 2);
        // RFC 2181 9: the records that fit, at an RR boundary, and TC.
        let (r, len) = exchange(&p, &msg, 512);
        assert!(r.header.tc && len <= 512);
        assert_eq!(r.answer.len(), 0);
        // Additional records that do not fit are dropped without TC.
        let msg = query("sec.prepare.test", Rtype::A, Class::IN);
        let (full, len) = exchange(&p, &msg, 512);
        assert_eq!(full.additional.len(), 3);
        let (r, _) = exchange(&p, &msg, len - 1);
        assert!(!r.header.tc);
        assert_eq!((r.authority.len(), r.additional.len()), (2, 2));
        // Header, question, and the first NS record written in full (18 + 10 + 21).
        let (r, _) = exchange(&p, &msg, 12 + 22 + 49 + 10);
        assert!(r.header.tc);
        assert_eq!((r.authority.len(), r.additional.len()), (1, 0));
    }

    #[test]
    fn exact_tails_compress_against_the_question() {
        let p = example();
        let msg = query("ExAmPlE.cOm", Rtype::MX, Class::IN);
        let mut key = [0; MAX_NAME_LEN];
        let q = question_key(&msg, &mut key).unwrap();
        let a = p.lookup_question(&q, &key);
        // Owner: pointer to 12; exchange: "mail" + pointer to 12.
        assert_eq!(&a.tail()[..2], &[0xc0, 12]);
        assert_eq!(&a.tail()[12..20], &[0, 10, 4, b'm', b'a', b'i', b'l', 0xc0]);
        assert_eq!(a.response_len(q.raw.len()), 12 + 17 + a.tail().len());
    }

    fn zone_names() -> Vec<String> {
        let z = zone::load(&fixture("example.com.zone"), None).unwrap();
        let mut names: Vec<String> = z
            .records
            .iter()
            .map(|r| Name::from_wire(&r.owner).unwrap().to_string())
            .collect();
        names.extend([
            "example.org.".into(),
            "com.".into(),
            "sub.example.com.".into(),
        ]);
        names
    }

    proptest! {
        #[test]
        fn random_queries_always_get_a_well_formed_response(
            pick in any::<prop::sample::Index>(),
            case in prop::collection::vec(any::<bool>(), 64),
            prefix in prop::collection::vec("[a-z*]{1,5}", 0..3),
            qtype in prop_oneof![
                prop::sample::select(vec![1u16, 2, 5, 6, 12, 13, 15, 16, 28, 33, 43, 255, 257]),
                any::<u16>()
            ],
            max_len in 512usize..4096,
        ) {
            let p = example();
            let names = zone_names();
            let base = &names[pick.index(names.len())];
            let mut text = String::new();
            for l in &prefix {
                text.push_str(l);
                text.push('.');
            }
            text.push_str(base);
            let text: String = text
                .chars()
                .zip(case.iter().cycle())
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            let msg = query(&text, Rtype(qtype), Class::IN);
            let (r, len) = exchange(&p, &msg, max_len);
            prop_assert!(len <= max_len);
            prop_assert!(matches!(r.header.rcode, Rcode::NOERROR | Rcode::NXDOMAIN | Rcode::REFUSED));
        }
    }
}
