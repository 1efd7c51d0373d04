//! HTTP/1.x request heads, parsed incrementally from a connection's receive buffer.
//!
//! [`parse`] looks at one request at the start of the buffer and answers
//! [`Parsed::Partial`] (wait for more bytes), [`Parsed::Complete`] (a request and the
//! number of bytes it used; pipelined requests follow, so advance by `len` and call
//! again) or [`Parsed::Error`] (the status to answer with, see [`HttpError::status`]).
//! It never allocates: the header array lives on the stack and the [`Request`] borrows
//! from the buffer. Each call re-scans the buffered head, so a head arriving one byte
//! per segment costs O(n²) in the head length, bounded by [`MAX_HEAD`].
//!
//! Syntax is httparse's (RFC 9112 2-5); this module adds the limits and the semantics
//! a static server needs. Decisions where the RFCs leave a choice:
//!
//! * Limits are enforced on incomplete heads too, so an endless request line or header
//!   section gets its error instead of waiting forever: 414 once the target passes
//!   [`MAX_TARGET`], 431 once the head (counting skipped leading empty lines) passes
//!   [`MAX_HEAD`] or holds more than [`MAX_HEADERS`] fields, 501 once the method token
//!   passes [`MAX_METHOD`] (RFC 9112 3).
//! * Requests never have bodies here. `Content-Length: 0` is fine; any larger value is
//!   400 ([`HttpError::BodyNotAccepted`]): the server will not read the body, so the
//!   connection's framing is lost and it must close. A list of identical values
//!   (`0, 0`) is accepted, differing values are 400 (RFC 9110 8.6).
//! * Any `Transfer-Encoding` is 501 on HTTP/1.1 (RFC 9112 6.1: we implement no transfer
//!   coding for requests) and 400 on HTTP/1.0, where RFC 9112 6.1 calls it faulty framing.
//! * Methods are case-sensitive (RFC 9110 9.1): anything but `GET` and `HEAD` is 405.
//!   A 405 for a complete request without a body leaves the connection usable: the
//!   error carries the request's length and keep-alive so the caller can go on.
//!   Every other error ends the connection.
//! * Versions: httparse accepts exactly `HTTP/1.0` and `HTTP/1.1`. A request line whose
//!   version has the RFC 9112 2.3 shape `HTTP/D.D` (`HTTP/2.0`, `HTTP/1.2`, `HTTP/3.0`)
//!   is 505; anything else there (`HTTP/12.0`, `http/1.1`) is 400. An HTTP/0.9 simple
//!   request (`GET /` with no version) is 400: its line ends where a space is required.
//! * `Host` (RFC 9112 3.2): missing on 1.1, repeated, or not `uri-host [":" port]` is
//!   400. On 1.0 it may be absent.
//! * `If-None-Match` / `If-Modified-Since` on several field lines: reported as absent.
//!   Ignoring a precondition on GET/HEAD only costs a full 200 response, never a wrong
//!   one, and keeps [`Request`] a plain `Copy` value.

use core::fmt;

/// Longest request target accepted, in bytes; longer ones are 414.
pub const MAX_TARGET: usize = 8 * 1024;
/// Largest request head (request line, fields, final empty line) in bytes; larger is 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request; more is 431.
pub const MAX_HEADERS: usize = 64;
/// Longest method token; longer is 501 (RFC 9112 3). Registered methods are shorter.
pub const MAX_METHOD: usize = 32;

/// The methods the server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// The protocol versions the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One parsed request head, borrowing from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    pub version: Version,
    /// The request target exactly as sent; [`super::path::normalize`] makes it a path.
    pub target: &'a str,
    /// The `Host` value (validated); `None` only on HTTP/1.0 without one.
    pub host: Option<&'a str>,
    /// Whether the connection persists after the response (RFC 9112 9.3).
    pub keep_alive: bool,
    /// The raw `If-None-Match` value, when sent on exactly one field line.
    pub if_none_match: Option<&'a [u8]>,
    /// The raw `If-Modified-Since` value, when sent on exactly one field line. RFC 9110
    /// 13.1.3: the caller ignores it when `If-None-Match` is present.
    pub if_modified_since: Option<&'a [u8]>,
}

/// The outcome of looking at the start of a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole request head of `len` bytes (leading empty lines included).
    Complete { request: Request<'a>, len: usize },
    /// Valid so far and within the limits: wait for more bytes.
    Partial,
    /// Answer with [`HttpError::status`]; see [`HttpError::ends_connection`].
    Error(HttpError),
}

/// Why a request is refused, each with the status code it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// 400: the request line or a field line is not HTTP/1.x syntax (httparse's verdict;
    /// this includes obs-fold, whitespace before a field's colon and bare CR).
    Syntax(httparse::Error),
    /// 400: HTTP/1.1 without `Host` (RFC 9112 3.2).
    MissingHost,
    /// 400: more than one `Host` field line (RFC 9112 3.2).
    MultipleHosts,
    /// 400: a `Host` that is not `uri-host [":" port]` (RFC 9112 3.2).
    InvalidHost,
    /// 400: a `Content-Length` that is not a number, or several that differ (RFC 9112 6.3).
    InvalidContentLength,
    /// 400: a `Content-Length` above zero; the server does not read request bodies.
    BodyNotAccepted,
    /// 400: `Transfer-Encoding` on HTTP/1.0 is faulty framing (RFC 9112 6.1).
    TransferEncodingInHttp10,
    /// 405: a well-formed method other than GET or HEAD; the caller adds
    /// `Allow: GET, HEAD` (RFC 9110 15.5.6). `len` is the request's length; the
    /// connection can go on after it when `keep_alive` (false if the request has a body).
    MethodNotAllowed { len: usize, keep_alive: bool },
    /// 414: the request target is longer than [`MAX_TARGET`] (RFC 9112 3).
    TargetTooLong,
    /// 431: the head is larger than [`MAX_HEAD`].
    HeadTooLarge,
    /// 431: more than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// 501: a method token longer than [`MAX_METHOD`] (RFC 9112 3).
    MethodTooLong,
    /// 501: a `Transfer-Encoding` on an HTTP/1.1 request (RFC 9112 6.1).
    TransferEncodingNotImplemented,
    /// 505: a version of the form `HTTP/D.D` other than 1.0 and 1.1.
    VersionNotSupported,
}

impl HttpError {
    /// The status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Syntax(_)
            | HttpError::MissingHost
            | HttpError::MultipleHosts
            | HttpError::InvalidHost
            | HttpError::InvalidContentLength
            | HttpError::BodyNotAccepted
            | HttpError::TransferEncodingInHttp10 => 400,
            HttpError::MethodNotAllowed { .. } => 405,
            HttpError::TargetTooLong => 414,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::MethodTooLong | HttpError::TransferEncodingNotImplemented => 501,
            HttpError::VersionNotSupported => 505,
        }
    }

    /// Whether the connection must close after the error response: the request's
    /// extent in the byte stream is unknown or unread for all but a bodiless 405.
    pub fn ends_connection(&self) -> bool {
        !matches!(
            self,
            HttpError::MethodNotAllowed {
                keep_alive: true,
                ..
            }
        )
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Syntax(e) => write!(f, "malformed request: {e}"),
            HttpError::MissingHost => f.write_str("HTTP/1.1 request without Host"),
            HttpError::MultipleHosts => f.write_str("more than one Host field"),
            HttpError::InvalidHost => f.write_str("invalid Host value"),
            HttpError::InvalidContentLength => f.write_str("invalid Content-Length"),
            HttpError::BodyNotAccepted => f.write_str("request body not accepted"),
            HttpError::TransferEncodingInHttp10 => {
                f.write_str("Transfer-Encoding in an HTTP/1.0 request")
            }
            HttpError::MethodNotAllowed { .. } => f.write_str("method not allowed"),
            HttpError::TargetTooLong => {
                write!(f, "request target longer than {MAX_TARGET} bytes")
            }
            HttpError::HeadTooLarge => write!(f, "request head larger than {MAX_HEAD} bytes"),
            HttpError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header fields"),
            HttpError::MethodTooLong => write!(f, "method longer than {MAX_METHOD} bytes"),
            HttpError::TransferEncodingNotImplemented => {
                f.write_str("request Transfer-Encoding not implemented")
            }
            HttpError::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

/// Parses the request at the start of `buf`. See the module doc for the rules.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let status = req.parse(buf);
    if let Some(e) = over_limits(buf, &req, &status) {
        return Parsed::Error(e);
    }
    match status {
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Ok(httparse::Status::Complete(len)) => match interpret(&req, len) {
            Ok(request) => Parsed::Complete { request, len },
            Err(e) => Parsed::Error(e),
        },
        Err(httparse::Error::Version) => Parsed::Error(version_error(buf, &req)),
        Err(httparse::Error::TooManyHeaders) => Parsed::Error(HttpError::TooManyHeaders),
        Err(e) => Parsed::Error(HttpError::Syntax(e)),
    }
}

/// The size limits, checked on whatever httparse got through, complete or not.
fn over_limits(
    buf: &[u8],
    req: &httparse::Request<'_, '_>,
    status: &httparse::Result<usize>,
) -> Option<HttpError> {
    if req.method.is_some_and(|m| m.len() > MAX_METHOD) {
        return Some(HttpError::MethodTooLong);
    }
    if req.path.is_some_and(|p| p.len() > MAX_TARGET) {
        return Some(HttpError::TargetTooLong);
    }
    match *status {
        Ok(httparse::Status::Partial) => {
            // Partial means every byte so far is valid, and httparse's request line has
            // single-space delimiters, so the unfinished token's length is arithmetic.
            let line = buf.len() - leading_empty_lines(buf);
            match (req.method, req.path) {
                (None, _) if line > MAX_METHOD => return Some(HttpError::MethodTooLong),
                (Some(m), None) if line.saturating_sub(m.len() + 1) > MAX_TARGET => {
                    return Some(HttpError::TargetTooLong)
                }
                _ => {}
            }
            (buf.len() > MAX_HEAD).then_some(HttpError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(len)) => (len > MAX_HEAD).then_some(HttpError::HeadTooLarge),
        Err(_) => None,
    }
}

/// Bytes of empty lines before the request line, which httparse skips
/// (RFC 9112 2.2: a server SHOULD ignore at least one).
fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match &buf[at..] {
            [b'\r', b'\n', ..] => at += 2,
            [b'\n', ..] => at += 1,
            _ => return at,
        }
    }
}

/// 505 for a version shaped like `HTTP/D.D` (as far as it has arrived), else 400.
fn version_error(buf: &[u8], req: &httparse::Request<'_, '_>) -> HttpError {
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return HttpError::Syntax(httparse::Error::Version);
    };
    let at = leading_empty_lines(buf) + method.len() + 1 + path.len() + 1;
    let version = buf.get(at..).unwrap_or_default();
    if is_version_shaped(version) {
        HttpError::VersionNotSupported
    } else {
        HttpError::Syntax(httparse::Error::Version)
    }
}

/// RFC 9112 2.3: `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`, then the line's end.
/// True when `bytes` follows that shape for as long as they go (at least to the major
/// digit, where httparse stops on a non-1 major version).
fn is_version_shaped(bytes: &[u8]) -> bool {
    const SHAPE: &[u8; 8] = b"HTTP/9.9";
    if bytes.len() < 6 {
        return false;
    }
    let head_ok = bytes.iter().zip(SHAPE).all(|(&b, &s)| match s {
        b'9' => b.is_ascii_digit(),
        _ => b == s,
    });
    let tail_ok = matches!(bytes.get(8..), None | Some([]) | Some([b'\r' | b'\n', ..]));
    head_ok && tail_ok
}

/// The semantic checks on a complete head, in order: malformed framing and Host (400),
/// method (405), transfer coding (501), body (400).
fn interpret<'a>(req: &httparse::Request<'_, 'a>, len: usize) -> Result<Request<'a>, HttpError> {
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(HttpError::VersionNotSupported),
    };
    let mut host = None;
    let mut hosts = 0usize;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_option = false;
    let mut if_none_match = Field::Absent;
    let mut if_modified_since = Field::Absent;

    for field in req.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host = Some(field.value);
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(merge_content_length(content_length, field.value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("connection") {
            // RFC 9110 7.6.1: a comma list of case-insensitive options.
            for option in list_elements(field.value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive_option |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("if-none-match") {
            if_none_match = if_none_match.add(field.value);
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            if_modified_since = if_modified_since.add(field.value);
        }
    }

    // RFC 9112 3.2: a 1.1 request without Host, or any request with several Host lines
    // or an invalid one, MUST get 400.
    let host = match (hosts, host) {
        (0, _) if version == Version::Http11 => return Err(HttpError::MissingHost),
        (0, _) => None,
        (1, Some(value)) => Some(valid_host(value).ok_or(HttpError::InvalidHost)?),
        _ => return Err(HttpError::MultipleHosts),
    };
    if transfer_encoding && version == Version::Http10 {
        return Err(HttpError::TransferEncodingInHttp10);
    }
    // RFC 9112 9.3: close wins; 1.1 persists by default; 1.0 only with keep-alive.
    let keep_alive = !close && (version == Version::Http11 || keep_alive_option);
    let has_body = transfer_encoding || content_length.is_some_and(|n| n > 0);

    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => {
            return Err(HttpError::MethodNotAllowed {
                len,
                keep_alive: keep_alive && !has_body,
            })
        }
    };
    if transfer_encoding {
        return Err(HttpError::TransferEncodingNotImplemented);
    }
    if has_body {
        return Err(HttpError::BodyNotAccepted);
    }

    Ok(Request {
        method,
        version,
        target: req.path.unwrap_or_default(),
        host,
        keep_alive,
        if_none_match: if_none_match.single(),
        if_modified_since: if_modified_since.single(),
    })
}

/// A field that is only used when sent on exactly one line.
#[derive(Clone, Copy)]
enum Field<'a> {
    Absent,
    Once(&'a [u8]),
    Repeated,
}

impl<'a> Field<'a> {
    fn add(self, value: &'a [u8]) -> Self {
        match self {
            Field::Absent => Field::Once(value),
            _ => Field::Repeated,
        }
    }

    fn single(self) -> Option<&'a [u8]> {
        match self {
            Field::Once(value) => Some(value),
            _ => None,
        }
    }
}

/// The non-empty elements of a comma list, trimmed of optional whitespace
/// (RFC 9110 5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|element| element.trim_ascii())
        .filter(|element| !element.is_empty())
}

/// Folds one `Content-Length` field line into the value seen so far. RFC 9110 8.6: the
/// value is `1*DIGIT`; a list of identical values may be taken as one, anything else
/// is unrecoverable framing (RFC 9112 6.3), hence 400.
fn merge_content_length(seen: Option<u64>, value: &[u8]) -> Result<u64, HttpError> {
    let mut result = seen;
    let mut elements = 0;
    for element in value.split(|&b| b == b',') {
        let n = parse_decimal(element.trim_ascii()).ok_or(HttpError::InvalidContentLength)?;
        if result.is_some_and(|r| r != n) {
            return Err(HttpError::InvalidContentLength);
        }
        result = Some(n);
        elements += 1;
    }
    match result {
        Some(n) if elements > 0 => Ok(n),
        _ => Err(HttpError::InvalidContentLength),
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// RFC 9112 3.2 / RFC 3986 3.2.2: `Host = uri-host [ ":" port ]`, where uri-host is an
/// IP-literal in brackets or a reg-name (which covers IPv4 addresses). The empty value
/// is allowed for targets without an authority.
fn valid_host(value: &[u8]) -> Option<&str> {
    let rest = if let Some(literal) = value.strip_prefix(b"[") {
        let close = literal.iter().position(|&b| b == b']')?;
        let inside = &literal[..close];
        let ok = !inside.is_empty()
            && inside
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        if !ok {
            return None;
        }
        &literal[close + 1..]
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        if !is_reg_name(&value[..end]) {
            return None;
        }
        &value[end..]
    };
    let port_ok = match rest {
        [] => true,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if port_ok {
        core::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (RFC 3986 3.2.2).
fn is_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'%' => {
                let escape = name.get(i + 1..i + 3);
                if !escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if is_unreserved(b) || is_sub_delim(b) => i += 1,
            _ => return false,
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `curl http://127.0.0.1:8080/` (curl 8.x).
    const CURL: &[u8] =
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    /// `curl -I`.
    const CURL_HEAD: &[u8] = b"HEAD /index.html HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    /// `curl --http1.0`.
    const CURL_10: &[u8] =
        b"GET / HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    /// Python `http.client.HTTPConnection("127.0.0.1", 8080).request("GET", "/hello.txt")`.
    const PYTHON: &[u8] =
        b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: identity\r\n\r\n";
    /// wrk's default request (`wrk http://10.0.0.2:8080/`).
    const WRK: &[u8] = b"GET / HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\n";
    /// ApacheBench with `-k`: HTTP/1.0 asking for keep-alive.
    const AB_KEEPALIVE: &[u8] = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n";

    fn complete(buf: &[u8]) -> (Request<'_>, usize) {
        match parse(buf) {
            Parsed::Complete { request, len } => (request, len),
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn error(buf: &[u8]) -> HttpError {
        match parse(buf) {
            Parsed::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn status(buf: &[u8]) -> u16 {
        error(buf).status()
    }

    #[test]
    fn curl_get_is_a_persistent_1_1_get() {
        let (request, len) = complete(CURL);
        assert_eq!(len, CURL.len());
        assert_eq!(
            request,
            Request {
                method: Method::Get,
                version: Version::Http11,
                target: "/",
                host: Some("127.0.0.1:8080"),
                keep_alive: true,
                if_none_match: None,
                if_modified_since: None,
            }
        );
    }

    #[test]
    fn curl_head_is_a_head() {
        let (request, _) = complete(CURL_HEAD);
        assert_eq!(request.method, Method::Head);
        assert_eq!(request.target, "/index.html");
    }

    #[test]
    fn curl_http10_closes_without_keep_alive() {
        let (request, _) = complete(CURL_10);
        assert_eq!(request.version, Version::Http10);
        assert!(!request.keep_alive);
    }

    #[test]
    fn python_http_client_request_parses() {
        let (request, len) = complete(PYTHON);
        assert_eq!(len, PYTHON.len());
        assert_eq!(request.target, "/hello.txt");
        assert!(request.keep_alive);
    }

    #[test]
    fn wrk_request_parses() {
        let (request, len) = complete(WRK);
        assert_eq!(len, WRK.len());
        assert_eq!(request.host, Some("10.0.0.2:8080"));
        assert!(request.keep_alive);
    }

    #[test]
    fn http10_keep_alive_token_persists_case_insensitively() {
        let (request, _) = complete(AB_KEEPALIVE);
        assert_eq!(request.version, Version::Http10);
        assert!(request.keep_alive);
    }

    #[test]
    fn http11_connection_close_does_not_persist() {
        let (request, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert!(!request.keep_alive);
    }

    #[test]
    fn connection_is_a_comma_list_of_tokens() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade ,  CLOSE\r\n\r\n";
        assert!(!complete(buf).0.keep_alive);
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n";
        assert!(complete(buf).0.keep_alive);
        let buf = b"GET / HTTP/1.0\r\nConnection: te,keep-alive\r\n\r\n";
        assert!(complete(buf).0.keep_alive);
    }

    #[test]
    fn connection_close_on_a_second_line_wins() {
        let buf = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n";
        assert!(!complete(buf).0.keep_alive);
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let buf = b"GET / HTTP/1.1\r\nhOsT: example.org\r\nCONNECTION: close\r\nif-none-match: \"abc\"\r\nIF-MODIFIED-SINCE: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
        let (request, _) = complete(buf);
        assert_eq!(request.host, Some("example.org"));
        assert!(!request.keep_alive);
        assert_eq!(request.if_none_match, Some(&b"\"abc\""[..]));
        assert_eq!(
            request.if_modified_since,
            Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..])
        );
    }

    #[test]
    fn repeated_if_none_match_is_ignored() {
        let buf =
            b"GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n";
        assert_eq!(complete(buf).0.if_none_match, None);
    }

    #[test]
    fn request_split_at_every_offset_is_partial_until_complete() {
        for whole in [CURL, CURL_HEAD, CURL_10, PYTHON, WRK, AB_KEEPALIVE] {
            let expected = parse(whole);
            assert!(matches!(expected, Parsed::Complete { .. }));
            // A receive buffer filled one byte per segment.
            let mut received = Vec::new();
            for (i, &byte) in whole.iter().enumerate() {
                assert_eq!(parse(&received), Parsed::Partial, "after {i} bytes");
                received.push(byte);
            }
            assert_eq!(parse(&received), expected);
        }
    }

    #[test]
    fn pipelined_requests_parse_one_after_another() {
        let mut stream = Vec::new();
        stream.extend_from_slice(CURL);
        stream.extend_from_slice(PYTHON);
        stream.extend_from_slice(b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        stream.extend_from_slice(b"GET /partial HTTP/1.1\r\nHo");

        let mut at = 0;
        let mut targets = Vec::new();
        while let Parsed::Complete { request, len } = parse(&stream[at..]) {
            targets.push((request.method, request.target, request.keep_alive));
            at += len;
        }
        assert_eq!(
            targets,
            [
                (Method::Get, "/", true),
                (Method::Get, "/hello.txt", true),
                (Method::Head, "/x", false),
            ]
        );
        assert_eq!(parse(&stream[at..]), Parsed::Partial);
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let buf = b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (request, len) = complete(buf);
        assert_eq!(request.target, "/");
        assert_eq!(len, buf.len());
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        // RFC 9112 2.2: a recipient MAY recognize a single LF as a line terminator.
        let (request, _) = complete(b"GET /a HTTP/1.1\nHost: a\n\n");
        assert_eq!(request.target, "/a");
    }

    #[test]
    fn obs_fold_is_rejected() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n";
        assert_eq!(status(buf), 400);
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n";
        assert_eq!(status(buf), 400);
    }

    #[test]
    fn whitespace_before_colon_is_rejected() {
        // RFC 9112 5.1: MUST reject with 400.
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
    }

    #[test]
    fn bare_cr_is_rejected() {
        assert_eq!(status(b"GET / HTTP/1.1\rHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn http11_without_host_is_400() {
        assert_eq!(error(b"GET / HTTP/1.1\r\n\r\n"), HttpError::MissingHost);
    }

    #[test]
    fn http10_without_host_is_fine() {
        let (request, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(request.host, None);
    }

    #[test]
    fn two_host_lines_are_400() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n";
        assert_eq!(error(buf), HttpError::MultipleHosts);
    }

    #[test]
    fn invalid_host_values_are_400() {
        for host in [
            &b"a b"[..],
            b"a/b",
            b"a@b",
            b"a:80x",
            b"a:80:90",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"a%zz",
            b"a%4",
            b"\"a\"",
        ] {
            let mut buf = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            buf.extend_from_slice(host);
            buf.extend_from_slice(b"\r\n\r\n");
            assert_eq!(
                error(&buf),
                HttpError::InvalidHost,
                "{}",
                String::from_utf8_lossy(host)
            );
        }
    }

    #[test]
    fn valid_host_values_are_accepted() {
        for host in [
            "example.org",
            "example.org:8080",
            "10.0.0.2",
            "[::1]:8080",
            "[fe80::1]",
            "xn--bcher-kva.example",
            "a%41b",
            "a:",
            "",
        ] {
            let buf = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(complete(buf.as_bytes()).0.host, Some(host));
        }
    }

    #[test]
    fn other_methods_are_405_and_keep_the_connection() {
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get", "Head", "PATCH"] {
            let buf = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(
                error(buf.as_bytes()),
                HttpError::MethodNotAllowed {
                    len: buf.len(),
                    keep_alive: true
                },
                "{method}"
            );
        }
        let e = error(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(e.status(), 405);
        assert!(!e.ends_connection());
    }

    #[test]
    fn method_with_a_body_is_405_and_closes() {
        let buf = b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let e = error(buf);
        assert_eq!(e.status(), 405);
        assert!(e.ends_connection());
    }

    #[test]
    fn method_405_honours_connection_close() {
        let e = error(b"DELETE / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert!(e.ends_connection());
    }

    #[test]
    fn non_token_method_is_400() {
        assert_eq!(status(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn long_method_is_501_even_before_the_line_ends() {
        let mut buf = vec![b'X'; MAX_METHOD + 1];
        assert_eq!(error(&buf), HttpError::MethodTooLong);
        buf.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(error(&buf), HttpError::MethodTooLong);
        let ok = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "X".repeat(MAX_METHOD));
        assert_eq!(status(ok.as_bytes()), 405);
    }

    #[test]
    fn long_target_is_414_even_before_the_line_ends() {
        let mut buf = b"GET /".to_vec();
        buf.resize(4 + MAX_TARGET, b'a');
        assert_eq!(parse(&buf), Parsed::Partial);
        buf.push(b'a');
        assert_eq!(error(&buf), HttpError::TargetTooLong);
        buf.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(error(&buf), HttpError::TargetTooLong);
    }

    #[test]
    fn target_of_exactly_max_length_is_accepted() {
        let target = format!("/{}", "a".repeat(MAX_TARGET - 1));
        let buf = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(complete(buf.as_bytes()).0.target, target);
    }

    #[test]
    fn long_target_is_414_when_the_version_is_pending() {
        let mut buf = b"GET /".to_vec();
        buf.resize(5 + MAX_TARGET, b'a');
        buf.extend_from_slice(b" HTT");
        assert_eq!(error(&buf), HttpError::TargetTooLong);
    }

    #[test]
    fn large_head_is_431_even_before_it_ends() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        buf.resize(MAX_HEAD, b'v');
        assert_eq!(parse(&buf), Parsed::Partial);
        buf.push(b'v');
        assert_eq!(error(&buf), HttpError::HeadTooLarge);
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(error(&buf), HttpError::HeadTooLarge);
    }

    #[test]
    fn head_of_exactly_max_size_is_accepted() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        buf.resize(MAX_HEAD - 4, b'v');
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(complete(&buf).1, MAX_HEAD);
    }

    #[test]
    fn endless_empty_lines_are_431() {
        let buf = b"\r\n".repeat(MAX_HEAD / 2 + 1);
        assert_eq!(error(&buf), HttpError::HeadTooLarge);
    }

    #[test]
    fn too_many_headers_is_431_even_before_the_head_ends() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut full = buf.clone();
        full.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&full), Parsed::Complete { .. }));
        buf.extend_from_slice(b"X-Last: v\r\n");
        assert_eq!(error(&buf), HttpError::TooManyHeaders);
        assert_eq!(HttpError::TooManyHeaders.status(), 431);
    }

    #[test]
    fn any_transfer_encoding_is_501() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(error(buf), HttpError::TransferEncodingNotImplemented);
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(status(buf), 501);
    }

    #[test]
    fn transfer_encoding_in_http10_is_400() {
        let buf = b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(error(buf), HttpError::TransferEncodingInHttp10);
    }

    #[test]
    fn content_length_zero_is_fine() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(complete(buf).1, buf.len());
        let buf =
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\nContent-Length: 00\r\n\r\n";
        assert_eq!(complete(buf).1, buf.len());
    }

    #[test]
    fn content_length_above_zero_is_400() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(error(buf), HttpError::BodyNotAccepted);
    }

    #[test]
    fn invalid_content_length_is_400() {
        for value in [
            "",
            "-1",
            "+0",
            "0x0",
            "1 2",
            "0, 1",
            ",",
            "99999999999999999999999",
        ] {
            let buf = format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                error(buf.as_bytes()),
                HttpError::InvalidContentLength,
                "{value:?}"
            );
        }
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(error(buf), HttpError::InvalidContentLength);
    }

    #[test]
    fn versions_shaped_like_http_but_not_1x_are_505() {
        for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9", "HTTP/1.9"] {
            let buf = format!("GET / {version}\r\nHost: a\r\n\r\n");
            assert_eq!(
                error(buf.as_bytes()),
                HttpError::VersionNotSupported,
                "{version}"
            );
        }
        // httparse stops at the major digit; that is already enough to say 505.
        assert_eq!(error(b"GET / HTTP/2"), HttpError::VersionNotSupported);
    }

    #[test]
    fn malformed_versions_are_400() {
        for version in [
            "HTTP/12.0",
            "http/1.1",
            "HTTP/1.x",
            "HTTP/2\r",
            "FTP/1.0",
            "HTTP/2.0x",
        ] {
            let buf = format!("GET / {version}\r\nHost: a\r\n\r\n");
            assert_eq!(status(buf.as_bytes()), 400, "{version}");
        }
    }

    #[test]
    fn http09_simple_request_is_400() {
        assert_eq!(status(b"GET /\r\n"), 400);
    }

    #[test]
    fn every_error_but_a_bodiless_405_ends_the_connection() {
        assert!(HttpError::TargetTooLong.ends_connection());
        assert!(HttpError::Syntax(httparse::Error::Token).ends_connection());
        assert!(HttpError::MethodNotAllowed {
            len: 1,
            keep_alive: false
        }
        .ends_connection());
    }

    #[test]
    fn statuses_match_the_brief() {
        assert_eq!(HttpError::MissingHost.status(), 400);
        assert_eq!(HttpError::BodyNotAccepted.status(), 400);
        assert_eq!(HttpError::TargetTooLong.status(), 414);
        assert_eq!(HttpError::HeadTooLarge.status(), 431);
        assert_eq!(HttpError::TransferEncodingNotImplemented.status(), 501);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_len_fits(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Parsed::Complete { len, .. } = parse(&buf) {
                prop_assert!(len <= buf.len());
            }
        }

        #[test]
        fn parse_never_panics_on_request_like_bytes(
            head in "(GET|HEAD|POST|\r\n)? ?[ -~]{0,40}( HTTP/1\\.[0-9])?(\r?\n[A-Za-z-]{0,12}:?[ -~\t]{0,20}){0,6}(\r?\n)?(\r?\n)?",
        ) {
            let buf = head.as_bytes();
            if let Parsed::Complete { len, .. } = parse(buf) {
                prop_assert!(len <= buf.len());
            }
        }

        #[test]
        fn a_complete_request_survives_any_split(cut in 0usize..CURL.len()) {
            prop_assert_eq!(parse(&CURL[..cut]), Parsed::Partial);
        }
    }
}
