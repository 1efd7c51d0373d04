//! The site: every regular file under a root directory, loaded into memory at start-up.
//!
//! [`Site::load`] walks the root once, reads each file and records what its responses need:
//! the URL path (`/a/b.html`), the body, a `Content-Type` from the extension, a strong `ETag`
//! derived from the content and a `Last-Modified` from the file's mtime. The server then
//! prepares every response from these (see [`super::response`]) and never touches the file
//! system again: **files that change, appear or disappear after start-up are not watched**;
//! restart the server to serve the new content.
//!
//! Rules of the walk:
//! * Regular files only. Sockets, FIFOs and devices are skipped and counted.
//! * A symbolic link is followed only when its canonical target lies inside the canonical
//!   root; one that leads outside, or nowhere (dangling), is skipped and counted. A link to a
//!   directory that is already being walked (a cycle) is skipped and counted.
//! * A name that is not valid UTF-8 cannot be a URL path here; it is skipped and counted.
//! * Everything else that is found is public, dot-files included: point `--root` at a
//!   directory that holds only what should be served.
//! * A file or directory that cannot be read stops start-up with a [`SiteError`] naming the
//!   path and the reason; so do the [`Limits`] on the file count and the total bytes.
//!
//! Directories: `/dir/` serves `/dir/index.html` and `/` serves `/index.html`. `/dir`
//! without the slash answers a 301 to `/dir/` when `/dir/index.html` exists, so that the
//! page's relative links resolve against the directory. A directory without an `index.html`
//! is not listed: both `/dir` and `/dir/` are 404, since a redirect would only lead to one.
//!
//! [`Site::lookup`] takes the normalized, percent-decoded path that [`super::path`] produces
//! and allocates nothing: the routes are a `HashMap<String, Route>` built at load time, looked
//! up with the `&str` (SipHash per request is a few tens of nanoseconds; one lookup per
//! request, not per packet).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Last-Modified of the bundled site ([`Site::bundled`]): a constant, the day its files were
/// written, so that the binary's responses do not depend on when or where it was built.
pub const BUNDLED_LAST_MODIFIED: &str = "Sat, 21 Nov 2026 00:00:00 GMT";

/// The bundled default site, `apps/site/`, compiled into the binary.
const BUNDLED: &[(&str, &[u8])] = &[
    ("/index.html", include_bytes!("../../site/index.html")),
    ("/style.css", include_bytes!("../../site/style.css")),
    ("/hello.txt", include_bytes!("../../site/hello.txt")),
    (
        "/docs/index.html",
        include_bytes!("../../site/docs/index.html"),
    ),
    (
        "/docs/lines.txt",
        include_bytes!("../../site/docs/lines.txt"),
    ),
];

/// Caps on what [`Site::load_with`] accepts, so that a wrong `--root` (say `/`) fails with a
/// clear message instead of filling memory. Every byte is held twice once the responses are
/// prepared (the body here and the prepared segments), so the byte cap counts for two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most files loaded; one more is a [`SiteError::TooManyFiles`].
    pub max_files: usize,
    /// The most body bytes, all files together; more is a [`SiteError::TooManyBytes`].
    pub max_total_bytes: u64,
}

impl Default for Limits {
    /// 100,000 files and 1 GiB in all.
    fn default() -> Self {
        Limits {
            max_files: 100_000,
            max_total_bytes: 1 << 30,
        }
    }
}

/// What the walk loaded and what it skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Files loaded.
    pub files: usize,
    /// Body bytes loaded, all files together.
    pub bytes: u64,
    /// Symbolic links whose canonical target lies outside the root.
    pub skipped_outside_root: u64,
    /// Symbolic links that lead nowhere.
    pub skipped_dangling_links: u64,
    /// Symbolic links to a directory that is already being walked.
    pub skipped_link_cycles: u64,
    /// Names that are not valid UTF-8.
    pub skipped_non_utf8: u64,
    /// Sockets, FIFOs, devices.
    pub skipped_special: u64,
}

/// Why the site could not be loaded. Each names the path concerned; `Display` is one line.
#[derive(Debug)]
pub enum SiteError {
    /// The root does not exist or cannot be resolved.
    Root { path: PathBuf, reason: io::Error },
    /// The root is not a directory.
    RootNotDirectory { path: PathBuf },
    /// A file or directory under the root could not be read.
    Read { path: PathBuf, reason: io::Error },
    /// Loading `path` would exceed [`Limits::max_files`].
    TooManyFiles { path: PathBuf, limit: usize },
    /// Loading `path` would exceed [`Limits::max_total_bytes`].
    TooManyBytes { path: PathBuf, limit: u64 },
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Root { path, reason } => {
                write!(f, "site root {}: {reason}", path.display())
            }
            SiteError::RootNotDirectory { path } => {
                write!(f, "site root {}: not a directory", path.display())
            }
            SiteError::Read { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
            SiteError::TooManyFiles { path, limit } => write!(
                f,
                "too many files: {} would be file number {} (limit {limit})",
                path.display(),
                limit + 1
            ),
            SiteError::TooManyBytes { path, limit } => write!(
                f,
                "site too large: {} takes the total past {limit} bytes",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SiteError::Root { reason, .. } | SiteError::Read { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// One file of the site, with what its responses need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    path: String,
    body: Cow<'static, [u8]>,
    content_type: &'static str,
    etag: String,
    last_modified: String,
}

impl File {
    /// A file at URL `path` with `last_modified` (an IMF-fixdate); type and tag are derived.
    pub(crate) fn new(path: String, body: Cow<'static, [u8]>, last_modified: String) -> File {
        let content_type = content_type(&path);
        let etag = etag_for(&body);
        File {
            path,
            body,
            content_type,
            etag,
            last_modified,
        }
    }

    /// The URL path, percent-decoded: `/docs/index.html`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The content.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The `Content-Type` field value, e.g. `text/html; charset=utf-8`.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The strong entity-tag, quoted: `"1a2-0123456789abcdef"` (length and a 64-bit FNV-1a
    /// hash of the content, both in hex).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The `Last-Modified` field value, an IMF-fixdate (RFC 9110 5.6.7).
    pub fn last_modified(&self) -> &str {
        &self.last_modified
    }
}

/// What a path names: see [`Site::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Serve this file.
    File(&'a File),
    /// Answer 301 with this `Location` (already percent-encoded): a directory named
    /// without its trailing slash.
    Redirect(&'a str),
    /// Nothing here.
    NotFound,
}

#[derive(Debug, Clone)]
enum Route {
    File(usize),
    Redirect(String),
}

/// The loaded site. See the module doc.
#[derive(Debug, Clone)]
pub struct Site {
    files: Vec<File>,
    routes: HashMap<String, Route>,
    stats: LoadStats,
}

impl Site {
    /// Loads every regular file under `root` with the default [`Limits`].
    pub fn load(root: &Path) -> Result<Site, SiteError> {
        Site::load_with(root, &Limits::default())
    }

    /// Loads every regular file under `root`, within `limits`.
    pub fn load_with(root: &Path, limits: &Limits) -> Result<Site, SiteError> {
        Site::load_reading(root, limits, &mut |p| fs::read(p))
    }

    /// The walk, with the file reader as a parameter so that tests can make a read fail
    /// (the tests run as root, who can read a mode-000 file).
    fn load_reading(
        root: &Path,
        limits: &Limits,
        read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    ) -> Result<Site, SiteError> {
        let canonical = fs::canonicalize(root).map_err(|reason| SiteError::Root {
            path: root.to_path_buf(),
            reason,
        })?;
        if !canonical.is_dir() {
            return Err(SiteError::RootNotDirectory {
                path: root.to_path_buf(),
            });
        }
        let mut walk = Walk {
            root: canonical.clone(),
            limits: *limits,
            // Read once: a Last-Modified in the future is replaced by this (RFC 9110 8.8.2.1).
            now: SystemTime::now(),
            read,
            files: Vec::new(),
            stats: LoadStats::default(),
            stack: vec![canonical.clone()],
        };
        walk.dir(&canonical, "")?;
        let Walk { files, stats, .. } = walk;
        Ok(Site::from_files(files, stats))
    }

    /// A site with no files (every path is 404).
    pub fn empty() -> Site {
        Site {
            files: Vec::new(),
            routes: HashMap::new(),
            stats: LoadStats::default(),
        }
    }

    /// The bundled default site (`apps/site/`: an index page, a style sheet, a text file, a
    /// `docs/` directory with its own index and a 16 KiB text file), every file with
    /// [`BUNDLED_LAST_MODIFIED`] as its Last-Modified.
    pub fn bundled() -> Site {
        let files: Vec<File> = BUNDLED
            .iter()
            .map(|(path, body)| {
                File::new(
                    path.to_string(),
                    Cow::Borrowed(*body),
                    BUNDLED_LAST_MODIFIED.to_string(),
                )
            })
            .collect();
        let stats = LoadStats {
            files: files.len(),
            bytes: files.iter().map(|f| f.body.len() as u64).sum(),
            ..LoadStats::default()
        };
        Site::from_files(files, stats)
    }

    fn from_files(files: Vec<File>, stats: LoadStats) -> Site {
        let mut routes = HashMap::with_capacity(files.len() * 2);
        for (i, file) in files.iter().enumerate() {
            routes.insert(file.path.clone(), Route::File(i));
        }
        for (i, file) in files.iter().enumerate() {
            let Some(dir) = file.path.strip_suffix("index.html") else {
                continue;
            };
            if !dir.ends_with('/') {
                continue; // `/fooindex.html`
            }
            routes.insert(dir.to_string(), Route::File(i));
            let bare = &dir[..dir.len() - 1];
            if !bare.is_empty() && !routes.contains_key(bare) {
                routes.insert(bare.to_string(), Route::Redirect(percent_encode_path(dir)));
            }
        }
        Site {
            files,
            routes,
            stats,
        }
    }

    /// What `path` (normalized and percent-decoded, starting with `/`) names. Allocates
    /// nothing.
    pub fn lookup(&self, path: &str) -> Lookup<'_> {
        match self.routes.get(path) {
            Some(Route::File(i)) => Lookup::File(&self.files[*i]),
            Some(Route::Redirect(location)) => Lookup::Redirect(location),
            None => Lookup::NotFound,
        }
    }

    /// Every file, sorted by path within each directory (the order of the walk).
    pub fn files(&self) -> &[File] {
        &self.files
    }

    /// The directory paths that answer a redirect, with their `Location`s, so that the
    /// server can prepare those responses too.
    pub fn redirects(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter().filter_map(|(path, route)| match route {
            Route::Redirect(location) => Some((path.as_str(), location.as_str())),
            Route::File(_) => None,
        })
    }

    /// What the walk loaded and skipped.
    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }
}

struct Walk<'r> {
    /// Canonical.
    root: PathBuf,
    limits: Limits,
    now: SystemTime,
    read: &'r mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    files: Vec<File>,
    stats: LoadStats,
    /// The canonical directories being walked, outermost first: a link to one is a cycle.
    stack: Vec<PathBuf>,
}

impl Walk<'_> {
    /// Walks `dir` (canonical), whose URL path is `prefix` (`""` for the root, else
    /// `/a/b`).
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<(), SiteError> {
        let read_err = |reason| SiteError::Read {
            path: dir.to_path_buf(),
            reason,
        };
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).map_err(read_err)? {
            entries.push(entry.map_err(read_err)?);
        }
        // read_dir's order is the file system's; sort for a reproducible site.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                self.stats.skipped_non_utf8 += 1;
                continue;
            };
            let url = format!("{prefix}/{name}");
            let path = entry.path();
            let kind = entry.file_type().map_err(|reason| SiteError::Read {
                path: path.clone(),
                reason,
            })?;
            // Where the content is: the entry itself, or a link's canonical target.
            let target = if kind.is_symlink() {
                match fs::canonicalize(&path) {
                    Err(_) => {
                        self.stats.skipped_dangling_links += 1;
                        continue;
                    }
                    Ok(t) if !t.starts_with(&self.root) => {
                        self.stats.skipped_outside_root += 1;
                        continue;
                    }
                    Ok(t) => t,
                }
            } else {
                path.clone()
            };
            let meta = fs::metadata(&target).map_err(|reason| SiteError::Read {
                path: path.clone(),
                reason,
            })?;
            if meta.is_dir() {
                if self.stack.contains(&target) {
                    self.stats.skipped_link_cycles += 1;
                    continue;
                }
                self.stack.push(target.clone());
                self.dir(&target, &url)?;
                self.stack.pop();
            } else if meta.is_file() {
                self.file(&path, &target, &meta, url)?;
            } else {
                self.stats.skipped_special += 1;
            }
        }
        Ok(())
    }

    /// Loads one regular file; `path` is what the user sees (the entry under the root),
    /// `target` where the bytes are.
    fn file(
        &mut self,
        path: &Path,
        target: &Path,
        meta: &fs::Metadata,
        url: String,
    ) -> Result<(), SiteError> {
        if self.files.len() >= self.limits.max_files {
            return Err(SiteError::TooManyFiles {
                path: path.to_path_buf(),
                limit: self.limits.max_files,
            });
        }
        let too_big = |total: u64, limits: &Limits| total > limits.max_total_bytes;
        // Check the size before reading, so that one huge file fails fast.
        if too_big(self.stats.bytes.saturating_add(meta.len()), &self.limits) {
            return Err(SiteError::TooManyBytes {
                path: path.to_path_buf(),
                limit: self.limits.max_total_bytes,
            });
        }
        let body = (self.read)(target).map_err(|reason| SiteError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        // Again with what was read: the file may have grown meanwhile.
        let total = self.stats.bytes + body.len() as u64;
        if too_big(total, &self.limits) {
            return Err(SiteError::TooManyBytes {
                path: path.to_path_buf(),
                limit: self.limits.max_total_bytes,
            });
        }
        // httpdate panics before 1970; RFC 9110 8.8.2.1 forbids a date after now.
        let mtime = meta
            .modified()
            .unwrap_or(self.now)
            .clamp(UNIX_EPOCH, self.now);
        self.stats.files += 1;
        self.stats.bytes = total;
        self.files.push(File::new(
            url,
            Cow::Owned(body),
            httpdate::fmt_http_date(mtime),
        ));
        Ok(())
    }
}

/// The `Content-Type` for a path, from its extension (ASCII case-insensitive). `text/*`
/// types carry `charset=utf-8`; anything unknown is `application/octet-stream`.
pub fn content_type(path: &str) -> &'static str {
    const TYPES: &[(&str, &str)] = &[
        ("html", "text/html; charset=utf-8"),
        ("htm", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        // RFC 9239: text/javascript is the one to use.
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("txt", "text/plain; charset=utf-8"),
        ("md", "text/markdown; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("json", "application/json"),
        ("map", "application/json"),
        ("webmanifest", "application/manifest+json"),
        ("xml", "application/xml"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("avif", "image/avif"),
        ("ico", "image/x-icon"),
        ("bmp", "image/bmp"),
        ("wasm", "application/wasm"),
        ("pdf", "application/pdf"),
        ("woff", "font/woff"),
        ("woff2", "font/woff2"),
        ("ttf", "font/ttf"),
        ("otf", "font/otf"),
        ("mp3", "audio/mpeg"),
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
        ("tar", "application/x-tar"),
    ];
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return "application/octet-stream";
    };
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or("application/octet-stream", |(_, t)| t)
}

/// A strong entity-tag (RFC 9110 8.8.3) from the content: its length and 64-bit FNV-1a
/// hash in hex, quoted. Same bytes, same tag, across restarts and builds.
fn etag_for(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{:x}-{hash:016x}\"", body.len())
}

/// Percent-encodes a decoded URL path for a `Location` field: everything but RFC 3986
/// unreserved characters and `/`.
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("apps-site-test-{}-{tag}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, body: &[u8]) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn sample() -> TempDir {
        let t = TempDir::new("sample");
        t.write("index.html", b"<h1>home</h1>\n");
        t.write("docs/index.html", b"<h1>docs</h1>\n");
        t.write("docs/a.txt", b"a\n");
        t.write("empty/x.css", b"p{}\n");
        t
    }

    fn file_path(l: Lookup<'_>) -> Option<&str> {
        match l {
            Lookup::File(f) => Some(f.path()),
            _ => None,
        }
    }

    #[test]
    fn root_serves_index_html() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(file_path(site.lookup("/")), Some("/index.html"));
        assert_eq!(file_path(site.lookup("/index.html")), Some("/index.html"));
    }

    #[test]
    fn directory_with_slash_serves_its_index() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(file_path(site.lookup("/docs/")), Some("/docs/index.html"));
        assert_eq!(file_path(site.lookup("/docs/a.txt")), Some("/docs/a.txt"));
    }

    #[test]
    fn directory_without_slash_redirects() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.lookup("/docs"), Lookup::Redirect("/docs/"));
        let redirects: Vec<_> = site.redirects().collect();
        assert_eq!(redirects, vec![("/docs", "/docs/")]);
    }

    #[test]
    fn directory_without_index_is_not_found_either_way() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.lookup("/empty"), Lookup::NotFound);
        assert_eq!(site.lookup("/empty/"), Lookup::NotFound);
        assert_eq!(file_path(site.lookup("/empty/x.css")), Some("/empty/x.css"));
    }

    #[test]
    fn missing_path_is_not_found() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.lookup("/missing"), Lookup::NotFound);
        assert_eq!(site.lookup("/docs/a.txt/"), Lookup::NotFound);
        assert_eq!(site.lookup(""), Lookup::NotFound);
    }

    #[test]
    fn redirect_location_is_percent_encoded() {
        let t = TempDir::new("encode");
        t.write("my docs/index.html", b"x");
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.lookup("/my docs"), Lookup::Redirect("/my%20docs/"));
        assert!(matches!(site.lookup("/my docs/"), Lookup::File(_)));
    }

    #[test]
    fn file_carries_type_etag_and_last_modified() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        let Lookup::File(f) = site.lookup("/docs/a.txt") else {
            panic!("not found");
        };
        assert_eq!(f.body(), b"a\n");
        assert_eq!(f.content_type(), "text/plain; charset=utf-8");
        // FNV-1a 64 of "a\n", length 2.
        assert_eq!(f.etag(), "\"2-089bdc07b544e7b2\"");
        assert_eq!(f.etag(), etag_for(b"a\n"));
        assert_ne!(f.etag(), etag_for(b"b\n"));
        let mtime = httpdate::parse_http_date(f.last_modified()).unwrap();
        let age = SystemTime::now().duration_since(mtime).unwrap();
        assert!(age.as_secs() < 3600, "{}", f.last_modified());
        assert_eq!(f.last_modified().len(), 29);
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        // Published FNV-1a 64 test vectors: "" and "a".
        assert_eq!(etag_for(b""), "\"0-cbf29ce484222325\"");
        assert_eq!(etag_for(b"a"), "\"1-af63dc4c8601ec8c\"");
    }

    #[test]
    fn future_mtime_is_clamped_to_load_time() {
        let t = TempDir::new("future");
        t.write("f.txt", b"x");
        let f = fs::File::options()
            .write(true)
            .open(t.0.join("f.txt"))
            .unwrap();
        let year_2100 = UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800);
        f.set_modified(year_2100).unwrap();
        drop(f);
        let site = Site::load(&t.0).unwrap();
        let lm = httpdate::parse_http_date(site.files()[0].last_modified()).unwrap();
        assert!(lm <= SystemTime::now());
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("/a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/A.HTM"), "text/html; charset=utf-8");
        assert_eq!(content_type("/s.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/d.json"), "application/json");
        assert_eq!(content_type("/i.svg"), "image/svg+xml");
        assert_eq!(content_type("/i.png"), "image/png");
        assert_eq!(content_type("/i.JPG"), "image/jpeg");
        assert_eq!(content_type("/i.gif"), "image/gif");
        assert_eq!(content_type("/i.webp"), "image/webp");
        assert_eq!(content_type("/favicon.ico"), "image/x-icon");
        assert_eq!(content_type("/m.wasm"), "application/wasm");
        assert_eq!(content_type("/p.pdf"), "application/pdf");
        assert_eq!(content_type("/f.xml"), "application/xml");
        assert_eq!(content_type("/f.woff2"), "font/woff2");
        assert_eq!(content_type("/README"), "application/octet-stream");
        assert_eq!(content_type("/x.unknown"), "application/octet-stream");
        assert_eq!(content_type("/dir.html/file"), "application/octet-stream");
        assert_eq!(content_type("/.bashrc"), "application/octet-stream");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_inside_root_is_followed() {
        let t = sample();
        std::os::unix::fs::symlink("docs/a.txt", t.0.join("alias.txt")).unwrap();
        std::os::unix::fs::symlink("docs", t.0.join("manual")).unwrap();
        let site = Site::load(&t.0).unwrap();
        let Lookup::File(f) = site.lookup("/alias.txt") else {
            panic!("link inside the root not followed");
        };
        assert_eq!(f.body(), b"a\n");
        assert_eq!(
            file_path(site.lookup("/manual/")),
            Some("/manual/index.html")
        );
        assert_eq!(site.lookup("/manual"), Lookup::Redirect("/manual/"));
        assert_eq!(site.stats().skipped_outside_root, 0);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_outside_root_is_skipped_and_counted() {
        let t = sample();
        let outside = TempDir::new("outside");
        outside.write("secret.txt", b"secret\n");
        std::os::unix::fs::symlink(outside.0.join("secret.txt"), t.0.join("secret.txt")).unwrap();
        std::os::unix::fs::symlink(&outside.0, t.0.join("outdir")).unwrap();
        std::os::unix::fs::symlink("../", t.0.join("docs/up")).unwrap();
        std::os::unix::fs::symlink("nowhere", t.0.join("dangling")).unwrap();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.lookup("/secret.txt"), Lookup::NotFound);
        assert_eq!(site.lookup("/outdir/secret.txt"), Lookup::NotFound);
        assert_eq!(site.stats().skipped_outside_root, 2);
        // `docs/up` leads back to the root: inside, but a cycle.
        assert_eq!(site.lookup("/docs/up/index.html"), Lookup::NotFound);
        assert_eq!(site.stats().skipped_link_cycles, 1);
        assert_eq!(site.stats().skipped_dangling_links, 1);
        assert_eq!(site.stats().files, 4);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_name_is_skipped_and_counted() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let t = sample();
        fs::write(t.0.join(OsStr::from_bytes(b"bad\xff.txt")), b"x").unwrap();
        let site = Site::load(&t.0).unwrap();
        assert_eq!(site.stats().skipped_non_utf8, 1);
        assert_eq!(site.stats().files, 4);
    }

    #[test]
    fn unreadable_file_stops_loading_with_its_path() {
        let t = sample();
        let mut read = |p: &Path| {
            if p.ends_with("docs/a.txt") {
                Err(io::Error::from(io::ErrorKind::PermissionDenied))
            } else {
                fs::read(p)
            }
        };
        let err = Site::load_reading(&t.0, &Limits::default(), &mut read).unwrap_err();
        let expected = format!(
            "cannot read {}: permission denied",
            fs::canonicalize(&t.0).unwrap().join("docs/a.txt").display()
        );
        assert_eq!(err.to_string(), expected);
    }

    #[cfg(unix)]
    #[test]
    fn mode_000_file_stops_loading_unless_root() {
        use std::os::unix::fs::PermissionsExt;
        let t = sample();
        let path = t.0.join("locked.txt");
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read(&path).is_ok() {
            eprintln!("skipping mode_000_file_stops_loading_unless_root: running as root");
            return;
        }
        let err = Site::load(&t.0).unwrap_err().to_string();
        assert!(err.starts_with("cannot read "), "{err}");
        assert!(err.contains("locked.txt"), "{err}");
    }

    #[test]
    fn missing_root_is_an_error_naming_it() {
        let t = TempDir::new("gone");
        let missing = t.0.join("no-such-dir");
        let err = Site::load(&missing).unwrap_err().to_string();
        assert!(err.starts_with("site root "), "{err}");
        assert!(err.contains("no-such-dir"), "{err}");
    }

    #[test]
    fn root_that_is_a_file_is_an_error() {
        let t = sample();
        let err = Site::load(&t.0.join("index.html")).unwrap_err();
        assert!(matches!(err, SiteError::RootNotDirectory { .. }));
        assert!(err.to_string().ends_with("index.html: not a directory"));
    }

    #[test]
    fn file_count_limit_is_a_clear_error() {
        let t = sample();
        let limits = Limits {
            max_files: 3,
            ..Limits::default()
        };
        let err = Site::load_with(&t.0, &limits).unwrap_err().to_string();
        assert!(err.starts_with("too many files: "), "{err}");
        assert!(err.ends_with("would be file number 4 (limit 3)"), "{err}");
        let limits = Limits {
            max_files: 4,
            ..Limits::default()
        };
        assert_eq!(Site::load_with(&t.0, &limits).unwrap().files().len(), 4);
    }

    #[test]
    fn byte_limit_is_a_clear_error() {
        let t = sample();
        let total = 14 + 14 + 2 + 4;
        let limits = Limits {
            max_total_bytes: total - 1,
            ..Limits::default()
        };
        let err = Site::load_with(&t.0, &limits).unwrap_err().to_string();
        assert!(err.starts_with("site too large: "), "{err}");
        assert!(err.ends_with(&format!("past {} bytes", total - 1)), "{err}");
        let limits = Limits {
            max_total_bytes: total,
            ..Limits::default()
        };
        assert_eq!(Site::load_with(&t.0, &limits).unwrap().stats().bytes, total);
    }

    #[test]
    fn walk_order_is_sorted() {
        let t = sample();
        let site = Site::load(&t.0).unwrap();
        let paths: Vec<_> = site.files().iter().map(File::path).collect();
        assert_eq!(
            paths,
            [
                "/docs/a.txt",
                "/docs/index.html",
                "/empty/x.css",
                "/index.html"
            ]
        );
    }

    #[test]
    fn bundled_site_loads_and_root_serves_index() {
        let site = Site::bundled();
        let Lookup::File(f) = site.lookup("/") else {
            panic!("/ not found");
        };
        assert_eq!(f.path(), "/index.html");
        assert!(f.body().starts_with(b"<!doctype html>"));
        assert_eq!(f.content_type(), "text/html; charset=utf-8");
        assert_eq!(f.last_modified(), BUNDLED_LAST_MODIFIED);
        assert!(httpdate::parse_http_date(BUNDLED_LAST_MODIFIED).is_ok());
        assert_eq!(file_path(site.lookup("/docs/")), Some("/docs/index.html"));
        assert_eq!(site.lookup("/docs"), Lookup::Redirect("/docs/"));
        let Lookup::File(lines) = site.lookup("/docs/lines.txt") else {
            panic!("/docs/lines.txt not found");
        };
        assert_eq!(lines.body().len(), 16384);
        assert!(matches!(site.lookup("/style.css"), Lookup::File(_)));
        assert!(matches!(site.lookup("/hello.txt"), Lookup::File(_)));
        assert_eq!(site.stats().files, 5);
    }

    #[test]
    fn bundled_site_matches_its_directory() {
        // Every file of apps/site/ is in the bundle, and no other.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("site");
        let loaded = Site::load(&dir).unwrap();
        let bundled = Site::bundled();
        let mut a: Vec<_> = loaded
            .files()
            .iter()
            .map(|f| (f.path(), f.body()))
            .collect();
        let mut b: Vec<_> = bundled
            .files()
            .iter()
            .map(|f| (f.path(), f.body()))
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
