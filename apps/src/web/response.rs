//! Complete HTTP/1.x responses (head and body), built once at start-up and sent as they are.
//!
//! The server prepares, per site file, the responses for each (method, keep-alive,
//! version) a request can ask for ([`file_response`], [`not_modified`]), plus the error
//! responses ([`error_response`]) and the directory redirects ([`redirect`]); a request
//! only picks one. The status line always names HTTP/1.1 (RFC 9110 2.5); what varies with
//! the request is the `Connection` field:
//! * HTTP/1.1 staying open: none (persistence is the default, RFC 9112 9.3);
//! * HTTP/1.0 staying open: `Connection: keep-alive`, since the client asked for it and a
//!   1.0 client closes otherwise;
//! * closing: `Connection: close` (RFC 9112 9.6).
//!
//! The errors that close the connection are the ones after which the rest of the byte
//! stream cannot be trusted to start a new request: 400 (malformed), 414 and 431 (we stop
//! reading mid-request), 501 (a `Transfer-Encoding` body we will not read follows) and 505
//! (an unknown version's framing). 404, 405, 301 and 304 answer a well-formed request that
//! ended where the parser said, so the connection stays open when the client wants it.
//!
//! # The `Date` field
//! RFC 9110 6.6.1: an origin server with a clock MUST send `Date`. A prepared response
//! cannot carry a date that changes, so every response built here has `Date` as its
//! first field, right after the status line, with the fixed-width (29-byte) IMF-fixdate
//! [`DATE_PLACEHOLDER`]. [`date_offset`] finds those 29 bytes and [`set_date`] rewrites them
//! with a date from [`format_date`]; the server formats the date once per second and patches
//! every prepared response (the head is far shorter than a segment, so the date always
//! lies in the first segment). A response sent without being patched says 1970; the
//! server sets the start-up time at least.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::http::Method;
use super::site::File;

/// The `Server` field value.
pub const SERVER: &str = "ipstack-web";

/// The `Date` value every response is built with, until [`set_date`] replaces it.
pub const DATE_PLACEHOLDER: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

/// The length of an IMF-fixdate (RFC 9110 5.6.7), always.
pub const DATE_LEN: usize = 29;

/// The status line is at most this long in anything built here; [`date_offset`] looks no
/// further for its end.
const MAX_STATUS_LINE: usize = 64;

/// The error statuses the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    /// 400: the request is malformed.
    BadRequest,
    /// 404: nothing at that path.
    NotFound,
    /// 405: a method other than GET and HEAD; sent with `Allow: GET, HEAD`.
    MethodNotAllowed,
    /// 414: the request target is too long.
    UriTooLong,
    /// 431: the header section is too large or has too many fields.
    RequestHeaderFieldsTooLarge,
    /// 501: a `Transfer-Encoding` on the request.
    NotImplemented,
    /// 505: an HTTP version other than 1.0 and 1.1.
    HttpVersionNotSupported,
}

impl ErrorStatus {
    /// Every error status, for preparing them all.
    pub const ALL: [ErrorStatus; 7] = [
        ErrorStatus::BadRequest,
        ErrorStatus::NotFound,
        ErrorStatus::MethodNotAllowed,
        ErrorStatus::UriTooLong,
        ErrorStatus::RequestHeaderFieldsTooLarge,
        ErrorStatus::NotImplemented,
        ErrorStatus::HttpVersionNotSupported,
    ];

    /// The status for a code, e.g. the request parser's error status.
    pub fn from_code(code: u16) -> Option<ErrorStatus> {
        ErrorStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            ErrorStatus::BadRequest => 400,
            ErrorStatus::NotFound => 404,
            ErrorStatus::MethodNotAllowed => 405,
            ErrorStatus::UriTooLong => 414,
            ErrorStatus::RequestHeaderFieldsTooLarge => 431,
            ErrorStatus::NotImplemented => 501,
            ErrorStatus::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase (RFC 9110 15, RFC 6585 5 for 431).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorStatus::BadRequest => "Bad Request",
            ErrorStatus::NotFound => "Not Found",
            ErrorStatus::MethodNotAllowed => "Method Not Allowed",
            ErrorStatus::UriTooLong => "URI Too Long",
            ErrorStatus::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            ErrorStatus::NotImplemented => "Not Implemented",
            ErrorStatus::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Whether the server closes the connection after this response (see the module doc).
    pub fn closes_connection(self) -> bool {
        !matches!(self, ErrorStatus::NotFound | ErrorStatus::MethodNotAllowed)
    }
}

/// The 200 response for `file`: for HEAD, the same head without the body (RFC 9110 9.3.2).
/// `keep_alive` is whether the connection stays open after it, `http10` whether the
/// request was HTTP/1.0.
pub fn file_response(file: &File, method: Method, keep_alive: bool, http10: bool) -> Vec<u8> {
    let body = file.body();
    let mut r = start(200, "OK", body.len());
    field(&mut r, "Content-Type", file.content_type());
    field(&mut r, "Content-Length", &body.len().to_string());
    field(&mut r, "ETag", file.etag());
    field(&mut r, "Last-Modified", file.last_modified());
    // No range support: tell clients not to try (RFC 9110 14.3).
    field(&mut r, "Accept-Ranges", "none");
    finish(&mut r, keep_alive, http10);
    if !is_head(method) {
        r.extend_from_slice(body);
    }
    r
}

/// The 304 response to a conditional GET or HEAD whose `If-None-Match` matched `file`.
///
/// RFC 9110 15.4.5: the server MUST send the `ETag` and `Date` a 200 would carry and SHOULD
/// NOT send other representation metadata unless it guides cache updates; `Last-Modified`
/// is one only for a response without an `ETag`, so it is left out, and so are
/// `Content-Type` and `Content-Length` (a 304 never has a body; RFC 9110 8.6 allows its
/// `Content-Length` but it adds nothing).
pub fn not_modified(file: &File, keep_alive: bool, http10: bool) -> Vec<u8> {
    let mut r = start(304, "Not Modified", 0);
    field(&mut r, "ETag", file.etag());
    finish(&mut r, keep_alive, http10);
    r
}

/// The 301 response sending the client to `location` (a URI reference, already
/// percent-encoded, e.g. the site's `/docs/` for `/docs`), with a small HTML body that
/// links there; for HEAD, without the body.
pub fn redirect(location: &str, method: Method, keep_alive: bool, http10: bool) -> Vec<u8> {
    let title = "301 Moved Permanently";
    let href = html_escape(location);
    let body = format!(
        "<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n\
         <p><a href=\"{href}\">{href}</a></p>\n"
    );
    let mut r = start(301, "Moved Permanently", body.len());
    field(&mut r, "Location", location);
    html_fields(&mut r, body.len());
    finish(&mut r, keep_alive, http10);
    if !is_head(method) {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

/// The response for an error `status`, with a small HTML body (none for HEAD: pass
/// `Method::Get` when the method is unknown or is neither GET nor HEAD). For the statuses
/// that close the connection ([`ErrorStatus::closes_connection`]) `keep_alive` is ignored
/// and the response says `Connection: close`.
pub fn error_response(
    status: ErrorStatus,
    method: Method,
    keep_alive: bool,
    http10: bool,
) -> Vec<u8> {
    let title = format!("{} {}", status.code(), status.reason());
    let body = format!("<!doctype html>\n<title>{title}</title>\n<h1>{title}</h1>\n");
    let mut r = start(status.code(), status.reason(), body.len());
    if status == ErrorStatus::MethodNotAllowed {
        // RFC 9110 15.5.6: a 405 MUST list the methods the resource supports.
        field(&mut r, "Allow", "GET, HEAD");
    }
    html_fields(&mut r, body.len());
    finish(&mut r, keep_alive && !status.closes_connection(), http10);
    if !is_head(method) {
        r.extend_from_slice(body.as_bytes());
    }
    r
}

/// Whether an `If-None-Match` field value matches `etag` (RFC 9110 13.1.2): `*` matches
/// any current representation; otherwise the value is a comma-separated list of
/// entity-tags compared weakly (a `W/` prefix on either side is ignored, the opaque tags
/// must be equal). Entity-tags may contain commas, so the list is split quote-aware; a
/// malformed member is skipped. Allocates nothing.
pub fn etag_matches(header: &[u8], etag: &str) -> bool {
    let ours = opaque_tag(etag.as_bytes());
    let mut rest = header;
    loop {
        rest = trim_start(rest, |b| b == b',' || b == b' ' || b == b'\t');
        if rest.is_empty() {
            return false;
        }
        if rest[0] == b'*' {
            // "*" is the whole field value in valid syntax; accept it anywhere.
            return true;
        }
        let tag = rest.strip_prefix(b"W/").unwrap_or(rest);
        if tag.first() == Some(&b'"') {
            let Some(end) = tag[1..].iter().position(|&b| b == b'"') else {
                return false; // unterminated
            };
            if tag[..end + 2] == *ours {
                return true;
            }
            rest = &tag[end + 2..];
        }
        // Skip anything up to the next comma (the rest of a malformed member).
        rest = trim_start(rest, |b| b != b',');
    }
}

/// Where the 29-byte `Date` value of a response built here starts, or `None` if the
/// response does not have `Date` as its first field with an IMF-fixdate-sized value.
pub fn date_offset(response: &[u8]) -> Option<usize> {
    if !response.starts_with(b"HTTP/") {
        return None;
    }
    let limit = response.len().min(MAX_STATUS_LINE);
    let lf = response[..limit].iter().position(|&b| b == b'\n')?;
    if lf == 0 || response[lf - 1] != b'\r' {
        return None;
    }
    let start = lf + 1 + b"Date: ".len();
    if response.get(lf + 1..start)? != b"Date: "
        || response.get(start + DATE_LEN..start + DATE_LEN + 2)? != b"\r\n"
    {
        return None;
    }
    Some(start)
}

/// `now` as an IMF-fixdate, for [`set_date`]. Times before 1970 give 1970 and times past
/// the year 9999 give its last second, where the format ends.
pub fn format_date(now: SystemTime) -> [u8; DATE_LEN] {
    let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let date = httpdate::HttpDate::from(now.clamp(UNIX_EPOCH, last));
    let mut out = [0u8; DATE_LEN];
    let mut w = &mut out[..];
    // An IMF-fixdate is exactly DATE_LEN bytes; the write cannot fall short.
    let _ = write!(w, "{date}");
    out
}

/// Rewrites the `Date` value of `response` (see [`date_offset`]); `false`, and nothing
/// changed, if it has none.
pub fn set_date(response: &mut [u8], date: &[u8; DATE_LEN]) -> bool {
    match date_offset(response) {
        Some(at) => {
            response[at..at + DATE_LEN].copy_from_slice(date);
            true
        }
        None => false,
    }
}

fn is_head(method: Method) -> bool {
    matches!(method, Method::Head)
}

/// The status line, `Date` (first, for [`date_offset`]) and `Server`.
/// The status line names HTTP/1.1 whatever the request's version: RFC 9110 2.5, a server
/// SHOULD send its highest conformant version (a 1.0 client takes it as 1.0).
fn start(code: u16, reason: &str, body_len: usize) -> Vec<u8> {
    let mut r = Vec::with_capacity(256 + body_len);
    r.extend_from_slice(format!("HTTP/1.1 {code} {reason}\r\n").as_bytes());
    field(&mut r, "Date", DATE_PLACEHOLDER);
    field(&mut r, "Server", SERVER);
    r
}

fn html_fields(r: &mut Vec<u8>, body_len: usize) {
    field(r, "Content-Type", "text/html; charset=utf-8");
    field(r, "Content-Length", &body_len.to_string());
}

fn field(r: &mut Vec<u8>, name: &str, value: &str) {
    r.extend_from_slice(name.as_bytes());
    r.extend_from_slice(b": ");
    r.extend_from_slice(value.as_bytes());
    r.extend_from_slice(b"\r\n");
}

/// `Connection` as the module doc says, then the empty line that ends the head.
fn finish(r: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        field(r, "Connection", "close");
    } else if http10 {
        field(r, "Connection", "keep-alive");
    }
    r.extend_from_slice(b"\r\n");
}

/// The opaque-tag of an entity-tag: without a `W/` prefix.
fn opaque_tag(etag: &[u8]) -> &[u8] {
    etag.strip_prefix(b"W/").unwrap_or(etag)
}

fn trim_start(mut s: &[u8], skip: impl Fn(u8) -> bool) -> &[u8] {
    while let Some((&b, rest)) = s.split_first() {
        if !skip(b) {
            break;
        }
        s = rest;
    }
    s
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn hello() -> File {
        File::new(
            "/hello.txt".to_string(),
            Cow::Borrowed(b"hi\n"),
            "Sun, 06 Nov 1994 08:49:37 GMT".to_string(),
        )
    }

    const HELLO_HEAD_11: &str = "HTTP/1.1 200 OK\r\n\
        Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
        Server: ipstack-web\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        Content-Length: 3\r\n\
        ETag: \"3-33734a193006ba70\"\r\n\
        Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
        Accept-Ranges: none\r\n";

    fn text(r: &[u8]) -> &str {
        std::str::from_utf8(r).unwrap()
    }

    #[test]
    fn get_11_keep_alive_is_head_and_body_without_connection() {
        let r = file_response(&hello(), Method::Get, true, false);
        assert_eq!(text(&r), format!("{HELLO_HEAD_11}\r\nhi\n"));
    }

    #[test]
    fn head_11_is_the_same_head_without_body() {
        let r = file_response(&hello(), Method::Head, true, false);
        assert_eq!(text(&r), format!("{HELLO_HEAD_11}\r\n"));
    }

    #[test]
    fn get_11_closing_says_connection_close() {
        let r = file_response(&hello(), Method::Get, false, false);
        assert_eq!(
            text(&r),
            format!("{HELLO_HEAD_11}Connection: close\r\n\r\nhi\n")
        );
    }

    #[test]
    fn get_10_with_keep_alive_says_keep_alive() {
        let r = file_response(&hello(), Method::Get, true, true);
        let head = HELLO_HEAD_11.to_string();
        assert_eq!(
            text(&r),
            format!("{head}Connection: keep-alive\r\n\r\nhi\n")
        );
    }

    #[test]
    fn get_10_without_keep_alive_says_close() {
        let r = file_response(&hello(), Method::Get, false, true);
        let head = HELLO_HEAD_11.to_string();
        assert_eq!(text(&r), format!("{head}Connection: close\r\n\r\nhi\n"));
    }

    #[test]
    fn not_modified_has_etag_and_no_body_fields() {
        assert_eq!(
            text(&not_modified(&hello(), true, false)),
            "HTTP/1.1 304 Not Modified\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: ipstack-web\r\n\
             ETag: \"3-33734a193006ba70\"\r\n\
             \r\n"
        );
        assert_eq!(
            text(&not_modified(&hello(), true, true)),
            "HTTP/1.1 304 Not Modified\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: ipstack-web\r\n\
             ETag: \"3-33734a193006ba70\"\r\n\
             Connection: keep-alive\r\n\
             \r\n"
        );
    }

    #[test]
    fn redirect_has_location_and_a_link() {
        let body = "<!doctype html>\n<title>301 Moved Permanently</title>\n\
                    <h1>301 Moved Permanently</h1>\n<p><a href=\"/docs/\">/docs/</a></p>\n";
        let head = format!(
            "HTTP/1.1 301 Moved Permanently\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: ipstack-web\r\n\
             Location: /docs/\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             \r\n",
            body.len()
        );
        assert_eq!(
            text(&redirect("/docs/", Method::Get, true, false)),
            format!("{head}{body}")
        );
        assert_eq!(text(&redirect("/docs/", Method::Head, true, false)), head);
    }

    #[test]
    fn redirect_body_escapes_the_location() {
        let r = redirect("/a&b\"/", Method::Get, true, false);
        assert!(text(&r).contains("<a href=\"/a&amp;b&quot;/\">"));
    }

    /// The expected error response, written out.
    fn expected_error(line: &str, extra: &str, connection: &str) -> String {
        let body = format!("<!doctype html>\n<title>{line}</title>\n<h1>{line}</h1>\n");
        format!(
            "HTTP/1.1 {line}\r\n\
             Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
             Server: ipstack-web\r\n\
             {extra}\
             Content-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\n\
             {connection}\
             \r\n\
             {body}",
            body.len()
        )
    }

    #[test]
    fn not_found_keeps_the_connection() {
        let r = error_response(ErrorStatus::NotFound, Method::Get, true, false);
        assert_eq!(text(&r), expected_error("404 Not Found", "", ""));
        let r = error_response(ErrorStatus::NotFound, Method::Get, false, false);
        assert_eq!(
            text(&r),
            expected_error("404 Not Found", "", "Connection: close\r\n")
        );
    }

    #[test]
    fn not_found_for_head_has_no_body() {
        let r = error_response(ErrorStatus::NotFound, Method::Head, true, false);
        let full = expected_error("404 Not Found", "", "");
        let head_end = full.find("\r\n\r\n").unwrap() + 4;
        assert_eq!(text(&r), &full[..head_end]);
    }

    #[test]
    fn method_not_allowed_lists_get_and_head() {
        let r = error_response(ErrorStatus::MethodNotAllowed, Method::Get, true, false);
        assert_eq!(
            text(&r),
            expected_error("405 Method Not Allowed", "Allow: GET, HEAD\r\n", "")
        );
    }

    #[test]
    fn framing_errors_close_the_connection_even_if_asked_to_keep_it() {
        for (status, line) in [
            (ErrorStatus::BadRequest, "400 Bad Request"),
            (ErrorStatus::UriTooLong, "414 URI Too Long"),
            (
                ErrorStatus::RequestHeaderFieldsTooLarge,
                "431 Request Header Fields Too Large",
            ),
            (ErrorStatus::NotImplemented, "501 Not Implemented"),
            (
                ErrorStatus::HttpVersionNotSupported,
                "505 HTTP Version Not Supported",
            ),
        ] {
            let r = error_response(status, Method::Get, true, false);
            assert_eq!(text(&r), expected_error(line, "", "Connection: close\r\n"));
            assert!(status.closes_connection());
        }
    }

    #[test]
    fn error_for_10_client_uses_the_11_status_line() {
        let r = error_response(ErrorStatus::NotFound, Method::Get, true, true);
        assert!(text(&r).starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text(&r).contains("\r\nConnection: keep-alive\r\n\r\n"));
        let r = error_response(ErrorStatus::BadRequest, Method::Get, true, true);
        assert!(text(&r).starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text(&r).contains("\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn error_status_from_code_round_trips() {
        for s in ErrorStatus::ALL {
            assert_eq!(ErrorStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(ErrorStatus::from_code(200), None);
    }

    #[test]
    fn etag_matches_exact_and_weak_forms() {
        let tag = "\"3-33734a193006ba70\"";
        assert!(etag_matches(b"\"3-33734a193006ba70\"", tag));
        assert!(etag_matches(b"W/\"3-33734a193006ba70\"", tag));
        assert!(etag_matches(b"\"x\"", "W/\"x\""));
        assert!(!etag_matches(b"\"3-33734a193006ba71\"", tag));
        assert!(!etag_matches(b"3-33734a193006ba70", tag)); // unquoted
        assert!(!etag_matches(b"", tag));
        assert!(!etag_matches(b"  ", tag));
    }

    #[test]
    fn etag_matches_star() {
        assert!(etag_matches(b"*", "\"x\""));
        assert!(etag_matches(b" * ", "\"x\""));
    }

    #[test]
    fn etag_matches_any_member_of_a_list() {
        assert!(etag_matches(b"\"a\", \"x\"", "\"x\""));
        assert!(etag_matches(b"\"a\",W/\"x\"", "\"x\""));
        assert!(etag_matches(b" ,, \"a\" ,\t\"x\" , ", "\"x\""));
        assert!(!etag_matches(b"\"a\", \"b\"", "\"x\""));
    }

    #[test]
    fn etag_list_split_respects_quotes() {
        // `"a,x"` is one entity-tag holding a comma, not `"a` and `x"`.
        assert!(!etag_matches(b"\"a,x\"", "\"x\""));
        assert!(etag_matches(b"\"a,x\"", "\"a,x\""));
    }

    #[test]
    fn etag_malformed_members_are_skipped() {
        assert!(etag_matches(b"junk, \"x\"", "\"x\""));
        assert!(etag_matches(b"\"a\"junk, \"x\"", "\"x\""));
        assert!(!etag_matches(b"\"x", "\"x\""));
        assert!(!etag_matches(b"W/", "\"x\""));
    }

    #[test]
    fn date_is_first_field_at_a_fixed_offset() {
        let r = file_response(&hello(), Method::Get, true, false);
        let at = date_offset(&r).unwrap();
        assert_eq!(at, "HTTP/1.1 200 OK\r\nDate: ".len());
        assert_eq!(&r[at..at + DATE_LEN], DATE_PLACEHOLDER.as_bytes());
        for r in [
            not_modified(&hello(), false, true),
            redirect("/d/", Method::Head, true, false),
            error_response(
                ErrorStatus::RequestHeaderFieldsTooLarge,
                Method::Get,
                false,
                false,
            ),
        ] {
            let at = date_offset(&r).unwrap();
            assert_eq!(&r[at..at + DATE_LEN], DATE_PLACEHOLDER.as_bytes());
        }
    }

    #[test]
    fn set_date_patches_in_place() {
        let mut r = file_response(&hello(), Method::Get, true, false);
        let len = r.len();
        let date = format_date(UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(&date, b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(set_date(&mut r, &date));
        assert_eq!(r.len(), len);
        assert!(text(&r).starts_with("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(text(&r).ends_with("\r\n\r\nhi\n"));
    }

    #[test]
    fn date_offset_rejects_other_bytes() {
        assert_eq!(date_offset(b""), None);
        assert_eq!(date_offset(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(date_offset(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), None);
        assert_eq!(date_offset(b"HTTP/1.1 200 OK\r\nDate: short\r\n\r\n"), None);
        assert_eq!(
            date_offset(b"hi\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            None
        );
        let mut r = b"xx".to_vec();
        assert!(!set_date(&mut r, &format_date(SystemTime::now())));
        assert_eq!(r, b"xx");
    }

    #[test]
    fn format_date_never_panics_at_the_edges() {
        assert_eq!(&format_date(UNIX_EPOCH), DATE_PLACEHOLDER.as_bytes());
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(&format_date(before), DATE_PLACEHOLDER.as_bytes());
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(&format_date(far), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn bundled_files_build_responses() {
        let site = super::super::site::Site::bundled();
        for f in site.files() {
            let r = file_response(f, Method::Get, true, false);
            assert!(r.ends_with(f.body()));
            assert!(date_offset(&r).is_some());
            let h = file_response(f, Method::Head, true, false);
            assert_eq!(h.len() + f.body().len(), r.len());
        }
    }
}
