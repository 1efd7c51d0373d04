//! Request targets made into site paths that cannot leave the site's root.
//!
//! [`normalize`] accepts only the origin form (RFC 9112 3.2.1: `absolute-path
//! [ "?" query ]`), drops the query (and a fragment, which clients should never send),
//! percent-decodes once (RFC 3986 2.1), and then removes dot segments (RFC 3986 5.2.4)
//! on the decoded path. Decoding first means `%2e%2e` and `%2F` cannot hide a `..`
//! from the dot removal; decoding only once means `%252e` stays the literal name
//! `%2e`. A `..` that would climb above the root is refused rather than clamped, so a
//! traversal attempt is answered 400 and never maps to some other file.
//!
//! The result is what the site table is keyed by: it starts with `/`, has no empty,
//! `.` or `..` segments, keeps a trailing slash (the caller maps `/dir/` to
//! `/dir/index.html`), and holds no control byte, DEL or backslash. The path is
//! compared exactly against the loaded files, so Windows-style equivalences (trailing
//! dots, case) do not matter here. Names starting with a dot are ordinary names here;
//! whether such files are served is the site loader's choice.
//!
//! A target that is already normal (no escape, no empty, `.` or `..` segment, no
//! forbidden byte: what clients almost always send) comes back borrowed, with one scan
//! and no allocation; any other is decoded and normalized in a `String` of its own.

use core::fmt;
use std::borrow::Cow;

/// Why a request target cannot be served; each is answered 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Absolute form (`http://host/x`), authority form (`host:80`), `*`, or empty.
    NotOriginForm,
    /// A `%` not followed by two hex digits (RFC 3986 2.1).
    InvalidEscape,
    /// A control byte, DEL or backslash, raw or percent-encoded.
    ForbiddenByte(u8),
    /// The decoded path is not UTF-8.
    InvalidUtf8,
    /// A `..` segment that would climb above the root.
    AboveRoot,
}

impl PathError {
    /// The status code the request is answered with.
    pub fn status(&self) -> u16 {
        400
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotOriginForm => f.write_str("request target is not a path"),
            PathError::InvalidEscape => f.write_str("invalid percent-escape in path"),
            PathError::ForbiddenByte(b) => write!(f, "forbidden byte 0x{b:02x} in path"),
            PathError::InvalidUtf8 => f.write_str("path is not UTF-8"),
            PathError::AboveRoot => f.write_str("path climbs above the root"),
        }
    }
}

/// Turns a request target into a normalized site path. See the module doc.
pub fn normalize(target: &str) -> Result<Cow<'_, str>, PathError> {
    if !target.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let path = &target[..end];
    if already_normal(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    normalize_owned(path).map(Cow::Owned)
}

/// Whether `path` (which starts with `/`) is its own normal form: nothing to decode or
/// refuse, and every segment but an empty last one (a trailing slash, which is kept) is a
/// plain name.
fn already_normal(path: &[u8]) -> bool {
    let mut segment_start = 1;
    for (i, &b) in path.iter().enumerate().skip(1) {
        if b < 0x20 || b == 0x7f || b == b'\\' || b == b'%' {
            return false;
        }
        if b == b'/' {
            if !plain_segment(&path[segment_start..i]) {
                return false;
            }
            segment_start = i + 1;
        }
    }
    let last = &path[segment_start..];
    last.is_empty() || plain_segment(last)
}

fn plain_segment(segment: &[u8]) -> bool {
    !matches!(segment, b"" | b"." | b"..")
}

/// The general case of [`normalize`], for `path` (the target up to its query): decode,
/// check, remove dot segments.
fn normalize_owned(path: &str) -> Result<String, PathError> {
    let mut path = percent_decode(path.as_bytes())?;
    // Validate before dot removal so that undecodable bytes are refused even in
    // segments a `..` would remove.
    if core::str::from_utf8(&path).is_err() {
        return Err(PathError::InvalidUtf8);
    }
    remove_dot_segments(&mut path)?;
    String::from_utf8(path).map_err(|_| PathError::InvalidUtf8)
}

/// RFC 3986 2.1: `pct-encoded = "%" HEXDIG HEXDIG`, decoded once.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while i < raw.len() {
        let byte = if raw[i] == b'%' {
            let hi = raw.get(i + 1).and_then(|&h| hex_value(h));
            let lo = raw.get(i + 2).and_then(|&l| hex_value(l));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(PathError::InvalidEscape);
            };
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            raw[i - 1]
        };
        if byte < 0x20 || byte == 0x7f || byte == b'\\' {
            return Err(PathError::ForbiddenByte(byte));
        }
        out.push(byte);
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Removes empty and `.` segments and resolves `..` in place (RFC 3986 5.2.4, except
/// that climbing above the root is an error). `path` starts with `/`.
fn remove_dot_segments(path: &mut Vec<u8>) -> Result<(), PathError> {
    let len = path.len();
    // Output so far is `path[..write]`, "/seg/seg" without a trailing slash; it never
    // overtakes `read`, so segments are moved left with `copy_within`.
    let mut write = 0;
    let mut read = 1;
    let mut trailing_slash;
    loop {
        let end = path[read..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(len, |at| read + at);
        let last = end == len;
        match &path[read..end] {
            b"" | b"." => trailing_slash = last,
            b".." => {
                if write == 0 {
                    return Err(PathError::AboveRoot);
                }
                write = path[..write].iter().rposition(|&b| b == b'/').unwrap_or(0);
                trailing_slash = last;
            }
            segment => {
                let segment_len = segment.len();
                path[write] = b'/';
                path.copy_within(read..end, write + 1);
                write += 1 + segment_len;
                trailing_slash = false;
            }
        }
        if last {
            break;
        }
        read = end + 1;
    }
    path.truncate(write);
    if write == 0 || trailing_slash {
        path.push(b'/');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The property every accepted path must have: rooted, no dot or empty segments,
    /// nothing a file system could read as a separator or terminator.
    fn assert_inside_root(path: &str) {
        assert!(path.starts_with('/'), "{path:?}");
        assert!(!path.contains("//"), "{path:?}");
        assert!(!path.contains('\\'), "{path:?}");
        assert!(!path.bytes().any(|b| b < 0x20 || b == 0x7f), "{path:?}");
        for segment in path.split('/') {
            assert!(segment != ".." && segment != ".", "{path:?}");
        }
    }

    #[test]
    fn plain_paths_are_unchanged() {
        for path in [
            "/",
            "/index.html",
            "/docs/",
            "/docs/index.html",
            "/a/b/c.txt",
        ] {
            assert_eq!(normalize(path).as_deref(), Ok(path));
        }
    }

    #[test]
    fn query_and_fragment_are_dropped() {
        assert_eq!(normalize("/a.html?x=1").as_deref(), Ok("/a.html"));
        assert_eq!(normalize("/a.html#top").as_deref(), Ok("/a.html"));
        assert_eq!(normalize("/?../../etc/passwd").as_deref(), Ok("/"));
        assert_eq!(normalize("/docs/?q").as_deref(), Ok("/docs/"));
    }

    #[test]
    fn percent_escapes_are_decoded_once() {
        assert_eq!(normalize("/a%20b.txt").as_deref(), Ok("/a b.txt"));
        assert_eq!(normalize("/%41%62c").as_deref(), Ok("/Abc"));
        assert_eq!(normalize("/caf%C3%A9").as_deref(), Ok("/café"));
        assert_eq!(normalize("/a%3Fb").as_deref(), Ok("/a?b"));
        assert_eq!(normalize("/%252e%252e/x").as_deref(), Ok("/%2e%2e/x"));
        assert_eq!(normalize("/%25").as_deref(), Ok("/%"));
    }

    #[test]
    fn raw_utf8_passes_through() {
        assert_eq!(normalize("/café").as_deref(), Ok("/café"));
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(normalize("/./a").as_deref(), Ok("/a"));
        assert_eq!(normalize("/a/./b").as_deref(), Ok("/a/b"));
        assert_eq!(normalize("/a/b/../c").as_deref(), Ok("/a/c"));
        assert_eq!(normalize("/a/%2e%2e/b").as_deref(), Ok("/b"));
        assert_eq!(normalize("/a/.%2E/b").as_deref(), Ok("/b"));
        assert_eq!(normalize("/a/..").as_deref(), Ok("/"));
        assert_eq!(normalize("/.").as_deref(), Ok("/"));
    }

    #[test]
    fn repeated_slashes_collapse() {
        assert_eq!(normalize("//a///b").as_deref(), Ok("/a/b"));
        assert_eq!(normalize("//").as_deref(), Ok("/"));
        assert_eq!(normalize("/a%2F%2Fb").as_deref(), Ok("/a/b"));
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(normalize("/docs/").as_deref(), Ok("/docs/"));
        assert_eq!(normalize("/docs//").as_deref(), Ok("/docs/"));
        assert_eq!(normalize("/docs/.").as_deref(), Ok("/docs/"));
        assert_eq!(normalize("/docs/sub/..").as_deref(), Ok("/docs/"));
        assert_eq!(normalize("/docs").as_deref(), Ok("/docs"));
    }

    #[test]
    fn dot_like_names_are_literal() {
        assert_eq!(normalize("/.../x").as_deref(), Ok("/.../x"));
        assert_eq!(normalize("/..;/x").as_deref(), Ok("/..;/x"));
        assert_eq!(normalize("/..%20/x").as_deref(), Ok("/.. /x"));
        assert_eq!(normalize("/.hidden").as_deref(), Ok("/.hidden"));
        assert_eq!(normalize("/a..b").as_deref(), Ok("/a..b"));
    }

    #[test]
    fn non_origin_forms_are_rejected() {
        for target in [
            "",
            "*",
            "http://example.org/index.html",
            "http://example.org/../etc/passwd",
            "example.org:80",
            "../etc/passwd",
            "..",
            "index.html",
            "%2f..%2fetc",
        ] {
            assert_eq!(normalize(target), Err(PathError::NotOriginForm), "{target}");
        }
    }

    #[test]
    fn climbing_above_the_root_is_rejected() {
        for target in [
            "/..",
            "/../",
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/./../x",
            "//../x",
            "/a/./b/../../..",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/",
            "/%2e./x",
            "/.%2e/x",
            "/%2e%2e%2fetc%2fpasswd",
            "/..%2f..%2fetc%2fpasswd",
            "/a/%2e%2e/%2e%2e/x",
            "/a/b/%2e%2e%2f%2e%2e%2f%2e%2e%2f",
            "/%3f/../..",
            "/%2f..",
            "/docs/../../",
        ] {
            assert_eq!(normalize(target), Err(PathError::AboveRoot), "{target}");
        }
    }

    #[test]
    fn forbidden_bytes_are_rejected_raw_or_encoded() {
        for (target, byte) in [
            ("/%00", 0x00),
            ("/index.html%00.txt", 0x00),
            ("/..%5c..%5cwindows", b'\\'),
            ("/..\\..\\windows", b'\\'),
            ("/a%5C", b'\\'),
            ("/%09", 0x09),
            ("/a%0d%0aSet-Cookie:x", 0x0d),
            ("/a\nb", 0x0a),
            ("/%7f", 0x7f),
            ("/.%00./", 0x00),
            ("/a/..%00/x", 0x00),
        ] {
            assert_eq!(
                normalize(target),
                Err(PathError::ForbiddenByte(byte)),
                "{target:?}"
            );
        }
    }

    #[test]
    fn invalid_escapes_are_rejected() {
        for target in ["/%", "/%2", "/%zz", "/%g0", "/%%32%65%%32%65/", "/a%2"] {
            assert_eq!(normalize(target), Err(PathError::InvalidEscape), "{target}");
        }
    }

    #[test]
    fn invalid_utf8_is_rejected_even_in_removed_segments() {
        for target in [
            "/%c0%ae%c0%ae/etc",
            "/%e0%80%ae%e0%80%ae/",
            "/%ff",
            "/%ff/..",
            "/caf%C3",
        ] {
            assert_eq!(normalize(target), Err(PathError::InvalidUtf8), "{target}");
        }
    }

    /// Every trick listed here comes out refused or as a path inside the root.
    #[test]
    fn traversal_tricks_never_escape() {
        let tricks = [
            "/../../../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%2E%2e%2F%2e%2E%2Fetc",
            "/.%2e/.%2e/etc",
            "/%2e./%2e./etc",
            "/..%2f/etc",
            "/%252e%252e/%252e%252e/etc",
            "/%25%32%65%25%32%65/etc",
            "/..%255c..%255c",
            "/..%5c..%5c",
            "/....//....//etc",
            "/.../.../etc",
            "/..;/..;/etc",
            "/..%00/etc",
            "/%c0%ae%c0%ae/",
            "/%c0%af",
            "/a/b/c/../../../../",
            "//..//..//etc",
            "/./././../",
            "/docs/%2e%2e",
            "/docs/%2e%2e/%2e%2e",
            "/docs/..%3b/..%3b",
            "/?/../../etc",
            "/#/../../etc",
            "/%3F/../../etc",
            "/%23/../../etc",
            "/ /../../etc",
            "/..%20/..%20/etc",
            "/.%20./etc",
            "\\..\\..\\etc",
            "/\\../etc",
            "file:///etc/passwd",
        ];
        assert!(tricks.len() >= 25);
        for target in tricks {
            if let Ok(path) = normalize(target) {
                assert_inside_root(&path);
            }
        }
    }

    #[test]
    fn errors_are_400() {
        assert_eq!(PathError::AboveRoot.status(), 400);
        assert_eq!(PathError::NotOriginForm.status(), 400);
    }

    #[test]
    fn normal_targets_are_borrowed_and_others_are_not() {
        for (target, path) in [
            ("/", "/"),
            ("/index.html", "/index.html"),
            ("/docs/", "/docs/"),
            ("/a/b.c/d?x=/../..", "/a/b.c/d"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a..b/...", "/a..b/..."),
        ] {
            let got = normalize(target).unwrap();
            assert!(matches!(got, Cow::Borrowed(_)), "{target}");
            assert_eq!(got, path);
        }
        for target in [
            "//", "/a//b", "/./a", "/a/.", "/a/..", "/a/../b", "/%41", "/a/",
        ] {
            let got = normalize(target);
            let borrowed = matches!(got, Ok(Cow::Borrowed(_)));
            assert_eq!(borrowed, target == "/a/", "{target}");
        }
    }

    proptest! {
        #[test]
        fn the_borrowed_shortcut_agrees_with_the_general_case(
            target in "/[./%2eEfF5cC0a-z?#\\\\\\x00\\x7f]{0,40}",
        ) {
            let end = target.find(['?', '#']).unwrap_or(target.len());
            let general = normalize_owned(&target[..end]);
            prop_assert_eq!(normalize(&target).map(Cow::into_owned), general);
        }

        #[test]
        fn normalize_never_escapes_on_arbitrary_strings(rest in any::<String>()) {
            for target in [rest.clone(), format!("/{rest}")] {
                if let Ok(path) = normalize(&target) {
                    assert_inside_root(&path);
                }
            }
        }

        #[test]
        fn normalize_never_escapes_on_path_like_strings(
            target in "/[./%2eEfF5cC0a-z?#\\\\]{0,40}",
        ) {
            if let Ok(path) = normalize(&target) {
                assert_inside_root(&path);
                // Normalizing is idempotent once escapes are gone.
                if !path.contains('%') && !path.contains('?') && !path.contains('#') {
                    let again = normalize(&path);
                    prop_assert_eq!(again.as_deref(), Ok(&*path));
                }
            }
        }
    }
}
