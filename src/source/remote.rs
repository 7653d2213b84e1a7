//! Object stores (`s3://`, `gs://`, `az://`, `http(s)://`, ...) as byte sources, through the
//! `object_store` crate: ranged reads only. Opening an object whose size a listing told, and
//! which is small (at most 2 MiB, within the caller's budget), reads it whole in one request;
//! otherwise opening reads the last 64 KiB + 22 bytes in one request (the end of central
//! directory, the zip64 records and usually the whole central directory). Later reads of what
//! was read at open are served from memory;
//! batches of ranges are merged when close and fetched concurrently; every read names the
//! object's ETag (and checks its size), so an object that changed between the index read and
//! a data read is an error, never a mix of two versions.

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig};

use super::ByteSource;

/// Bytes read from the end at open: the end of central directory (22 bytes) and up to 64 KiB
/// before it (the zip64 records, the comment, and usually the central directory).
const TAIL: u64 = 64 * 1024 + 22;

/// Bytes received from object stores by this process (for benchmarks and diagnostics).
pub(crate) static BYTES_FETCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Requests (GETs, and the HEADs of stores without suffix ranges) answered for this process
/// by object stores (retries not counted).
pub(crate) static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Ranges closer than this are fetched as one request.
const COALESCE: u64 = 256 * 1024;

/// What one GET answered: the bytes, what the store says of the object, and their range.
type Got = (bytes::Bytes, object_store::ObjectMeta, Range<u64>);

/// One GET of `range` of the object, or of all of it for `None` (naming `if_match`, when
/// known): its bytes, what the store says of the object, and the range it answered (checked
/// whole). A whole object larger than [`WHOLE_BODY`] is refused before its body is read.
fn get_raw(store: &Arc<dyn ObjectStore>, path: &StorePath, range: Option<GetRange>, if_match: Option<String>) -> object_store::Result<Got> {
    let whole = range.is_none();
    let (bytes, meta, got) = runtime().block_on(async {
        let opts = GetOptions { range, if_match, ..Default::default() };
        let got = store.get_opts(path, opts).await?;
        let (meta, range) = (got.meta.clone(), got.range.clone());
        if whole && meta.size > WHOLE_BODY {
            return Err(object_store::Error::NotSupported {
                source: format!(
                    "the server does not answer range requests, and the object ({} bytes) is larger than the {} MiB read whole then",
                    meta.size,
                    WHOLE_BODY >> 20
                )
                .into(),
            });
        }
        Ok::<_, object_store::Error>((got.bytes().await?, meta, range))
    })?;
    BYTES_FETCHED.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A whole body is checked against its Content-Length: a body cut short is never whole.
    if bytes.len() as u64 != got.end - got.start || got.end > meta.size {
        return Err(object_store::Error::Generic { store: "polars-npz", source: "a range of the object came back short".into() });
    }
    Ok((bytes, meta, got))
}

/// [`get_raw`] of `range`, its error for `url`.
fn get(store: &Arc<dyn ObjectStore>, path: &StorePath, url: &str, range: GetRange, if_match: Option<String>) -> std::io::Result<Got> {
    get_raw(store, path, Some(range), if_match).map_err(|e| io_err(url, e))
}

/// The most bytes read in one answer from a server that ignores range requests (it answers
/// every GET with the whole object, so the whole object is held).
const WHOLE_BODY: u64 = 1 << 30;

/// Whether a store's answer says it cannot serve that kind of range: object_store refuses a
/// suffix range for Azure before sending it, and an HTTP answer other than 206 to a ranged
/// GET (a server that ignores `Range`, or this kind of it) is `NotSupported`; a 416 (Range Not
/// Satisfiable) is a server refusing the suffix form (object_store names the status only in
/// the message).
fn range_refused(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotSupported { .. }) || e.to_string().contains("status code: 416")
}

/// The range requests a store was found to answer (by scheme and authority), so that later
/// objects of it are opened the way that worked at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSupport {
    /// Bounded ranges (`bytes=a-b`), not suffix ranges (`bytes=-n`).
    NoSuffix,
    /// No ranges at all: every GET answers the whole object.
    None,
}

fn store_key(url: &str) -> String {
    url::Url::parse(url).map(|u| format!("{}://{}", u.scheme(), u.authority())).unwrap_or_default()
}

fn range_support() -> &'static std::sync::Mutex<std::collections::HashMap<String, RangeSupport>> {
    static SUPPORT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, RangeSupport>>> = OnceLock::new();
    SUPPORT.get_or_init(Default::default)
}

fn known_support(url: &str) -> Option<RangeSupport> {
    range_support().lock().unwrap_or_else(|p| p.into_inner()).get(&store_key(url)).copied()
}

fn learn_support(url: &str, support: RangeSupport) {
    range_support().lock().unwrap_or_else(|p| p.into_inner()).insert(store_key(url), support);
}

/// Whether the store of `url` may be asked for a suffix range (`bytes=-n`, the object's end
/// without its size): not Azure's (object_store refuses to send one), nor a server that
/// refused one before.
fn suffix_ranges(url: &str) -> bool {
    let azure = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "az" | "abfs" | "abfss" | "azure" | "adl"));
    !azure && known_support(url).is_none()
}

/// How opening an object reads its end (or all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum OpenRead {
    /// One GET of this range (the object's size is known).
    Range(Range<u64>),
    /// One GET of the last [`TAIL`] bytes, which also tells the size.
    Suffix,
    /// The size first (a HEAD), then a GET of a range.
    Head,
}

/// The first request of opening an object of `size` (when known): all of a small one when
/// `take_whole` agrees, else its end, by a suffix range where the store takes one.
fn open_read(size: Option<u64>, suffix_ranges: bool, take_whole: &dyn Fn(u64) -> bool) -> OpenRead {
    match size {
        Some(size) if size > 0 && size <= WHOLE_OBJECT && take_whole(size) => OpenRead::Range(0..size),
        Some(size) if !suffix_ranges && size > 0 => OpenRead::Range(size.saturating_sub(TAIL)..size),
        _ if suffix_ranges => OpenRead::Suffix,
        _ => OpenRead::Head,
    }
}

/// Ranges read in one batch whose span is at most this are fetched as one request.
const ONE_REQUEST_SPAN: u64 = 1 << 20;

/// Objects a listing says are at most this large are read whole when opened (one request
/// serves the index, the headers and the data).
pub(crate) const WHOLE_OBJECT: u64 = 2 << 20;

/// What listings told of each object (its size and ETag), by store options and URL: what
/// opening an object and the plan cache go by.
type Listed = std::collections::HashMap<(String, String), (u64, Option<String>)>;

fn listed_objects() -> &'static std::sync::Mutex<Listed> {
    static LISTED: OnceLock<std::sync::Mutex<Listed>> = OnceLock::new();
    LISTED.get_or_init(Default::default)
}

/// The prefixes of the environment variables that hold store settings (as object_store's
/// `from_env` reads them: `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, credentials, ...).
const ENV_PREFIXES: [&str; 3] = ["AWS_", "GOOGLE_", "AZURE_"];

/// What decides which store a URL reaches and as whom: the storage options given
/// (object_store's configuration keys and Polars' own) and the environment's store settings,
/// read once, when these are made. A plan (or a single call) makes them once and every object
/// it opens goes by them: a plan of many objects does not read the environment per object.
#[derive(Clone)]
pub(crate) struct StoreOptions {
    given: Vec<(String, String)>,
    /// The environment's store settings: each variable's prefix (of [`ENV_PREFIXES`]), its
    /// name lower-cased (object_store's configuration key), its value; sorted.
    env: Vec<(&'static str, String, String)>,
    /// The key of both (credentials included: two stores may serve one URL). A client, a
    /// listing or a cached index made under other settings (such as another
    /// `AWS_ENDPOINT_URL`) is not reused.
    key: String,
}

impl StoreOptions {
    /// The options `given`, and the environment's store settings as they are now.
    pub(crate) fn new(given: &[(String, String)]) -> StoreOptions {
        let env = std::env::vars()
            .filter_map(|(k, v)| ENV_PREFIXES.iter().find(|p| k.starts_with(*p)).map(|p| (*p, k.to_ascii_lowercase(), v)))
            .collect();
        StoreOptions::with_env(given.to_vec(), env)
    }

    fn with_env(given: Vec<(String, String)>, mut env: Vec<(&'static str, String, String)>) -> StoreOptions {
        env.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
        let key = given.iter().map(|(k, v)| (k, v)).chain(env.iter().map(|(_, k, v)| (k, v))).map(|(k, v)| format!("{k}={v}\0")).collect();
        StoreOptions { given, env, key }
    }

    /// The storage options given.
    pub(crate) fn given(&self) -> &[(String, String)] {
        &self.given
    }

    /// The environment's settings for a store (variables starting with `prefix`, such as
    /// `AWS_`), as configuration pairs. They are applied after this reader's client defaults
    /// (which `from_env` alone would let the defaults replace), and before the options given.
    fn env<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.env.iter().filter(move |(p, _, _)| *p == prefix).map(|(_, k, v)| (k.as_str(), v.as_str()))
    }
}

/// The options given, and the names of the environment's settings (their values may be
/// credentials).
impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(_, k, _)| k.as_str()).collect();
        f.debug_struct("StoreOptions").field("given", &self.given).field("env", &env).finish()
    }
}

/// The size and ETag the latest listing gave for `url` (under these store options).
pub(crate) fn listed(url: &str, options: &StoreOptions) -> Option<(u64, Option<String>)> {
    let listed = listed_objects().lock().unwrap_or_else(|p| p.into_inner());
    listed.get(&(options.key.clone(), url.to_string())).cloned()
}

/// The runtime that drives object-store requests (two worker threads; callers block on it,
/// with the GIL released by the bindings).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("polars-npz-io")
            .enable_all()
            .build()
            .expect("a tokio runtime (threads and a timer) can be started")
    })
}

fn io_err(url: &str, e: object_store::Error) -> std::io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
        object_store::Error::Precondition { .. } | object_store::Error::NotModified { .. } => std::io::ErrorKind::InvalidData,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    // The caller's error names the URL.
    let _ = url;
    let msg = match kind {
        std::io::ErrorKind::InvalidData => format!("the object changed while it was being read ({e})"),
        _ => e.to_string(),
    };
    std::io::Error::new(kind, msg)
}

/// Retries: 5xx answers, timeouts and cut connections are retried with backoff, by default
/// at most 3 times within 30 s; then the read fails. Polars' own storage options set them
/// (`max_retries`, `retry_timeout_ms`, `retry_init_backoff_ms`, `retry_max_backoff_ms`,
/// `retry_base_multiplier`), as they do for `scan_parquet`.
fn retry(polars_options: &[(String, String)]) -> std::io::Result<RetryConfig> {
    let mut config = RetryConfig {
        backoff: BackoffConfig { init_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(2), base: 2.0 },
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    for (k, v) in polars_options {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("storage option '{k}': expected {what}, got '{v}'"));
        let int = || v.trim().parse::<u64>().map_err(|_| bad("a non-negative integer"));
        match k.as_str() {
            "max_retries" => config.max_retries = usize::try_from(int()?).unwrap_or(usize::MAX),
            "retry_timeout_ms" => config.retry_timeout = Duration::from_millis(int()?),
            "retry_init_backoff_ms" => config.backoff.init_backoff = Duration::from_millis(int()?),
            "retry_max_backoff_ms" => config.backoff.max_backoff = Duration::from_millis(int()?),
            "retry_base_multiplier" => config.backoff.base = v.trim().parse::<f64>().map_err(|_| bad("a number"))?,
            _ => {}
        }
    }
    Ok(config)
}

/// Storage options that are Polars' own (not object_store's): the retry settings, and the
/// file cache's lifetime (Polars' cache of downloaded files, which this reader does not have).
const POLARS_KEYS: [&str; 6] =
    ["max_retries", "retry_timeout_ms", "retry_init_backoff_ms", "retry_max_backoff_ms", "retry_base_multiplier", "file_cache_ttl"];

fn client() -> ClientOptions {
    ClientOptions::new().with_timeout(Duration::from_secs(30)).with_connect_timeout(Duration::from_secs(10))
}

/// The store serving `url` and the object's path in it. `options`: object_store configuration
/// keys (those Polars' own scans take as `storage_options`) and the environment's store
/// settings (credentials among them), as object_store reads them.
pub(crate) fn store_for(url: &str, options: &StoreOptions) -> std::io::Result<(Arc<dyn ObjectStore>, StorePath)> {
    // One client per store (scheme and authority: a bucket, a container, a server) and set of
    // options, shared by its objects: connections, TLS sessions and credentials are reused.
    type Stores = std::collections::HashMap<(String, String), Arc<dyn ObjectStore>>;
    static STORES: OnceLock<std::sync::Mutex<Stores>> = OnceLock::new();
    let parsed =
        url::Url::parse(url).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: not a URL: {e}")))?;
    let key = (format!("{}://{}", parsed.scheme(), parsed.authority()), options.key.clone());
    let known = STORES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
    if let Some(store) = known {
        let path = StorePath::from_url_path(parsed.path())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: {e}")))?;
        return Ok((store, path));
    }
    let (store, path) = build_store(url, options)?;
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    let store = stores.entry(key).or_insert(store).clone();
    Ok((store, path))
}

/// A new client for the store of `url`, and the object's path in it.
fn build_store(url: &str, storage: &StoreOptions) -> std::io::Result<(Arc<dyn ObjectStore>, StorePath)> {
    let bad = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("{url}: not a URL: {e}")))?;
    let key = |k: &str, e: object_store::Error| bad(format!("storage option '{k}': {e}"));
    let (polars, options): (Vec<_>, Vec<_>) = storage.given().iter().cloned().partition(|(k, _)| POLARS_KEYS.contains(&k.as_str()));
    let retry = retry(&polars)?;
    // The environment's settings again after the client defaults (which replaced those of
    // `from_env`; unknown names ignored, as there),
    // then the options given (unknown names refused).
    macro_rules! configure {
        ($builder:expr, $prefix:expr) => {{
            let mut b = $builder;
            for (k, v) in storage.env($prefix) {
                if let Ok(config) = k.parse() {
                    b = b.with_config(config, v);
                }
            }
            for (k, v) in &options {
                b = b.with_config(k.to_ascii_lowercase().parse().map_err(|e| key(k, e))?, v);
            }
            b
        }};
    }
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => {
            let b = object_store::aws::AmazonS3Builder::from_env().with_url(url).with_client_options(client()).with_retry(retry);
            Arc::new(configure!(b, "AWS_").build().map_err(|e| io_err(url, e))?)
        }
        "gs" | "gcs" => {
            let gs_url = url.replacen("gcs://", "gs://", 1);
            let b =
                object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(gs_url).with_client_options(client()).with_retry(retry);
            Arc::new(configure!(b, "GOOGLE_").build().map_err(|e| io_err(url, e))?)
        }
        "az" | "abfs" | "abfss" | "azure" | "adl" => {
            let b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url).with_client_options(client()).with_retry(retry);
            Arc::new(configure!(b, "AZURE_").build().map_err(|e| io_err(url, e))?)
        }
        "http" | "https" => {
            // The store is the server; the object is the URL's path.
            let base = format!("{}://{}", parsed.scheme(), parsed.authority());
            // A plain-HTTP URL is the user's explicit choice of HTTP.
            let client = client().with_allow_http(parsed.scheme() == "http");
            let mut b = object_store::http::HttpBuilder::new().with_url(base).with_client_options(client).with_retry(retry);
            for (k, v) in &options {
                b = b.with_config(k.to_ascii_lowercase().parse().map_err(|e| key(k, e))?, v);
            }
            let store = b.build().map_err(|e| io_err(url, e))?;
            let path = StorePath::from_url_path(parsed.path()).map_err(|e| bad(format!("{url}: {e}")))?;
            return Ok((Arc::new(store), path));
        }
        other => return Err(bad(format!("{url}: unsupported scheme '{other}' (s3, gs, az, abfs, http, https)"))),
    };
    let path = StorePath::from_url_path(parsed.path()).map_err(|e| bad(format!("{url}: {e}")))?;
    Ok((store, path))
}

/// One object of a store.
#[derive(Debug)]
pub(crate) struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    len: u64,
    e_tag: Option<String>,
    /// The object's last bytes, read at open: `tail_start..len`.
    tail: Vec<u8>,
    tail_start: u64,
    /// Ranges fetched ahead in batches (the members' local and `.npy` headers).
    cache: std::sync::RwLock<Vec<(u64, bytes::Bytes)>>,
}

impl Remote {
    /// Open the object at `url`. A small object (at most [`WHOLE_OBJECT`] bytes) is read whole
    /// when `take_whole` (a memory budget) agrees: in one request when a listing gave its size,
    /// else in two (its end, then the rest). Otherwise one request reads its last 64 KiB + 22
    /// bytes (which also tells its size and ETag). A store without suffix ranges (Azure, some
    /// HTTP servers) is asked for the object's size first (a HEAD), then a range; a server
    /// that ignores ranges gives the whole object in one answer, which is then held whole.
    pub(crate) fn open(url: &str, options: &StoreOptions, take_whole: &dyn Fn(u64) -> bool) -> std::io::Result<Remote> {
        let (store, path) = store_for(url, options)?;
        let known = listed(url, options);
        let if_match = known.as_ref().and_then(|(_, e_tag)| e_tag.clone());
        let (bytes, meta, got) = if known_support(url) == Some(RangeSupport::None) {
            Self::get_whole(&store, &path, url, if_match)?
        } else {
            match open_read(known.as_ref().map(|(size, _)| *size), suffix_ranges(url), take_whole) {
                OpenRead::Range(range) => Self::get_range(&store, &path, url, range, if_match)?,
                OpenRead::Suffix => match get_raw(&store, &path, Some(GetRange::Suffix(TAIL)), if_match.clone()) {
                    Ok(got) => got,
                    Err(e) if range_refused(&e) => {
                        learn_support(url, RangeSupport::NoSuffix);
                        Self::get_after_head(&store, &path, url, take_whole)?
                    }
                    Err(e) => return Err(io_err(url, e)),
                },
                OpenRead::Head => Self::get_after_head(&store, &path, url, take_whole)?,
            }
        };
        if got.end != meta.size {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{url}: the end of the object came back short")));
        }
        let mut remote = Remote {
            url: url.to_string(),
            store,
            path,
            len: meta.size,
            e_tag: meta.e_tag,
            tail: bytes.to_vec(),
            tail_start: got.start,
            cache: Default::default(),
        };
        if known.is_none() && got.start > 0 && remote.len <= WHOLE_OBJECT && take_whole(remote.len) {
            // A small object of unknown size: the rest of it, now.
            let (start, _, _) = get(&remote.store, &remote.path, url, GetRange::Bounded(0..got.start), remote.e_tag.clone())?;
            let mut whole = start.to_vec();
            whole.extend_from_slice(&remote.tail);
            remote.tail = whole;
            remote.tail_start = 0;
        }
        Ok(remote)
    }

    /// The object's size and ETag (a HEAD), then the range [`open_read`] picks for that size.
    fn get_after_head(store: &Arc<dyn ObjectStore>, path: &StorePath, url: &str, take_whole: &dyn Fn(u64) -> bool) -> std::io::Result<Got> {
        let meta = runtime().block_on(store.head(path)).map_err(|e| io_err(url, e))?;
        REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match open_read(Some(meta.size), false, take_whole) {
            OpenRead::Range(range) => Self::get_range(store, path, url, range, meta.e_tag),
            // Only an empty object has no range to read.
            _ => Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{url}: the object is empty, not a zip archive"))),
        }
    }

    /// A GET of `range`; from a server that answers it with the whole object instead (it
    /// ignores ranges), the whole object.
    fn get_range(
        store: &Arc<dyn ObjectStore>,
        path: &StorePath,
        url: &str,
        range: Range<u64>,
        if_match: Option<String>,
    ) -> std::io::Result<Got> {
        match get_raw(store, path, Some(GetRange::Bounded(range)), if_match.clone()) {
            Err(e) if range_refused(&e) && (url.starts_with("http:") || url.starts_with("https:")) => {
                learn_support(url, RangeSupport::None);
                Self::get_whole(store, path, url, if_match)
            }
            got => got.map_err(|e| io_err(url, e)),
        }
    }

    /// The whole object in one answer (at most [`WHOLE_BODY`] bytes, checked whole against
    /// its length), and unchanged since `if_match` was seen, when known.
    fn get_whole(store: &Arc<dyn ObjectStore>, path: &StorePath, url: &str, if_match: Option<String>) -> std::io::Result<Got> {
        let got = get_raw(store, path, None, if_match.clone()).map_err(|e| io_err(url, e))?;
        // A server that ignores ranges may ignore If-Match too.
        if if_match.is_some() && got.1.e_tag.is_some() && got.1.e_tag != if_match {
            return Err(io_err(url, object_store::Error::Precondition { path: url.to_string(), source: "its ETag changed".into() }));
        }
        Ok(got)
    }

    /// Fetch `range` (checked: the object unchanged, the bytes whole).
    async fn fetch(&self, range: Range<u64>) -> object_store::Result<bytes::Bytes> {
        let opts = GetOptions { range: Some(GetRange::Bounded(range.clone())), if_match: self.e_tag.clone(), ..Default::default() };
        let got = self.store.get_opts(&self.path, opts).await?;
        if got.meta.size != self.len || (self.e_tag.is_some() && got.meta.e_tag.is_some() && got.meta.e_tag != self.e_tag) {
            return Err(object_store::Error::Precondition {
                path: self.url.clone(),
                source: "the object's size or ETag changed since it was opened".into(),
            });
        }
        let bytes = got.bytes().await?;
        BYTES_FETCHED.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if bytes.len() as u64 != range.end - range.start {
            return Err(object_store::Error::Generic {
                store: "polars-npz",
                source: format!("{} bytes came back for a range of {}", bytes.len(), range.end - range.start).into(),
            });
        }
        Ok(bytes)
    }

    fn tail_slice(&self, range: &Range<u64>) -> Option<&[u8]> {
        (range.start >= self.tail_start && range.end <= self.len)
            .then(|| &self.tail[(range.start - self.tail_start) as usize..(range.end - self.tail_start) as usize])
    }

    /// Copy `range` into `buf` from the tail or the prefetched ranges, if one holds it whole.
    fn copy_cached(&self, range: &Range<u64>, buf: &mut [u8]) -> bool {
        if let Some(b) = self.tail_slice(range) {
            buf.copy_from_slice(b);
            return true;
        }
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        // The last cached range starting at or before `range.start`.
        let i = cache.partition_point(|(start, _)| *start <= range.start);
        let Some((start, bytes)) = i.checked_sub(1).map(|i| &cache[i]) else { return false };
        if range.end <= start + bytes.len() as u64 {
            buf.copy_from_slice(&bytes[(range.start - start) as usize..(range.end - start) as usize]);
            return true;
        }
        false
    }
}

impl ByteSource for Remote {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.len);
        let end = end.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the object"))?;
        if buf.is_empty() {
            return Ok(());
        }
        if self.copy_cached(&(offset..end), buf) {
            return Ok(());
        }
        let bytes = runtime().block_on(self.fetch(offset..end)).map_err(|e| io_err(&self.url, e))?;
        buf.copy_from_slice(&bytes);
        Ok(())
    }

    fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>> {
        if ranges.iter().any(|r| r.end > self.len || r.start > r.end) {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the object"));
        }
        // Ranges fetched already (the tail, prefetched headers) need no request; the rest are
        // merged when close and fetched concurrently (object_store bounds the requests in
        // flight).
        let mut out: Vec<Option<Vec<u8>>> = ranges
            .iter()
            .map(|r| {
                let mut v = vec![0u8; (r.end - r.start) as usize];
                (r.start >= r.end || self.copy_cached(r, &mut v)).then_some(v)
            })
            .collect();
        let wanted: Vec<Range<u64>> = ranges.iter().zip(&out).filter(|(_, o)| o.is_none()).map(|(r, _)| r.clone()).collect();
        let start = wanted.iter().map(|r| r.start).min().unwrap_or(0);
        let end = wanted.iter().map(|r| r.end).max().unwrap_or(0);
        let fetched = if wanted.len() > 1 && end - start <= ONE_REQUEST_SPAN {
            // Within a short span: one request, sliced.
            let span = runtime().block_on(self.fetch(start..end)).map_err(|e| io_err(&self.url, e))?;
            wanted.iter().map(|r| span.slice((r.start - start) as usize..(r.end - start) as usize)).collect()
        } else {
            runtime().block_on(object_store::coalesce_ranges(&wanted, |r| self.fetch(r), COALESCE)).map_err(|e| io_err(&self.url, e))?
        };
        let mut fetched = fetched.into_iter();
        for o in out.iter_mut().filter(|o| o.is_none()) {
            *o = Some(fetched.next().map(|b| b.to_vec()).unwrap_or_default());
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn held_bytes(&self) -> u64 {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        self.tail.len() as u64 + cache.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    }

    fn version(&self) -> Option<(u64, Option<String>)> {
        Some((self.len, self.e_tag.clone()))
    }

    fn identity(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.url, self.len, self.e_tag.as_ref()?))
    }

    fn prefetch(&self, ranges: &[Range<u64>]) -> std::io::Result<()> {
        // Ranges held already (read at open) need no request; the rest are merged as the batch
        // read merges them, and kept as merged.
        let mut merged: Vec<Range<u64>> = Vec::new();
        let mut sorted: Vec<Range<u64>> =
            ranges.iter().map(|r| r.start..r.end.min(self.len)).filter(|r| r.start < r.end && self.tail_slice(r).is_none()).collect();
        sorted.sort_by_key(|r| r.start);
        for r in sorted {
            match merged.last_mut() {
                Some(last) if r.start <= last.end + COALESCE => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        // Several ranges within a short span are one request: a round trip costs more than
        // the bytes between them.
        if let (Some(first), Some(last)) = (merged.first(), merged.last()) {
            if merged.len() > 1 && last.end - first.start <= ONE_REQUEST_SPAN {
                merged = std::iter::once(first.start..last.end).collect();
            }
        }
        // At most 10 requests in flight, as object_store's own batched reads.
        let fetched: Vec<bytes::Bytes> = runtime()
            .block_on(futures::stream::iter(merged.iter().cloned()).map(|r| self.fetch(r)).buffered(10).try_collect())
            .map_err(|e| io_err(&self.url, e))?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.extend(merged.iter().map(|r| r.start).zip(fetched));
        cache.sort_by_key(|(start, _)| *start);
        Ok(())
    }
}

/// The objects a URL names: itself when it has no glob characters (`*`, `?`, `[`) and does
/// not end with `/`; otherwise every object under the longest prefix without glob characters
/// that matches the pattern (`**` crosses `/`), or, for a URL ending in `/`, every `.npz`
/// under it. Sorted. HTTP(S) servers cannot be listed: their URLs name one object each.
pub(crate) fn expand(url: &str, options: &StoreOptions) -> std::io::Result<Vec<String>> {
    let is_glob = url.contains(['*', '?', '[']);
    if !is_glob && !url.ends_with('/') {
        return Ok(vec![url.to_string()]);
    }
    let parsed = url::Url::parse(url).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: {e}")))?;
    if matches!(parsed.scheme(), "http" | "https") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{url}: HTTP(S) servers cannot be listed; give each archive's URL"),
        ));
    }
    // Everything up to the path, then the path split at its first glob character.
    let root_len = url.len() - parsed.path().len() - parsed.query().map_or(0, |q| q.len() + 1);
    let root = &url[..root_len];
    let path = url[root_len..].trim_start_matches('/');
    let literal_end = path.find(['*', '?', '[']).unwrap_or(path.len());
    let prefix_dir = path[..literal_end].rfind('/').map_or("", |i| &path[..i]);
    let pattern = if is_glob {
        Some(glob::Pattern::new(path).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: {e}")))?)
    } else {
        None
    };
    let (store, _) = store_for(&format!("{root}/{prefix_dir}"), options)?;
    let prefix = StorePath::from(prefix_dir);
    let listing: Vec<object_store::ObjectMeta> =
        runtime().block_on(store.list((!prefix_dir.is_empty()).then_some(&prefix)).try_collect()).map_err(|e| io_err(url, e))?;
    let match_opts = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
    let found: Vec<(String, u64, Option<String>)> = listing
        .into_iter()
        .filter(|m| match &pattern {
            Some(pat) => pat.matches_with(m.location.as_ref(), match_opts),
            None => m.location.as_ref().ends_with(".npz"),
        })
        .map(|m| (format!("{root}/{}", m.location), m.size, m.e_tag))
        .collect();
    // What the listing tells of each object, for opening it and for the plan cache.
    let key = &options.key;
    let mut listed = listed_objects().lock().unwrap_or_else(|p| p.into_inner());
    for (u, size, e_tag) in &found {
        listed.insert((key.clone(), u.clone()), (*size, e_tag.clone()));
    }
    drop(listed);
    let mut out: Vec<String> = found.into_iter().map(|(u, _, _)| u).collect();
    out.sort();
    Ok(out)
}

/// Upload the local file at `path` to `url`: a multipart upload in parts of 10 MiB (several in
/// flight), completed once every part is in, so the object appears whole or not at all; an
/// upload that fails is aborted.
pub(crate) fn upload_file(path: &std::path::Path, url: &str, options: &[(String, String)]) -> std::io::Result<()> {
    use std::io::Read;
    let (store, object) = store_for(url, &StoreOptions::new(options))?;
    let mut file = std::fs::File::open(path)?;
    runtime().block_on(async {
        let upload = store.put_multipart(&object).await.map_err(|e| io_err(url, e))?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, 10 << 20);
        let mut buf = vec![0u8; 1 << 20];
        let result: std::io::Result<()> = async {
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                writer.wait_for_capacity(4).await.map_err(|e| io_err(url, e))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match result {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(|e| io_err(url, e)),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Azure takes no suffix range: opening an object there asks its size first, or, when a
    /// listing gave it, reads its end by a bounded range; never `bytes=-n`.
    #[test]
    fn azure_objects_open_without_suffix_ranges() {
        for url in ["az://container/a.npz", "abfss://container@account.dfs.core.windows.net/a.npz", "azure://c/a.npz"] {
            assert!(!suffix_ranges(url), "{url}");
            assert_eq!(open_read(None, suffix_ranges(url), &|_| true), OpenRead::Head);
            assert_eq!(open_read(Some(10 << 20), suffix_ranges(url), &|_| true), OpenRead::Range((10 << 20) - TAIL..10 << 20));
            assert_eq!(open_read(Some(100), suffix_ranges(url), &|_| false), OpenRead::Range(0..100));
        }
        assert!(suffix_ranges("s3://bucket/a.npz"));
        assert_eq!(open_read(None, true, &|_| true), OpenRead::Suffix);
        assert_eq!(open_read(Some(10 << 20), true, &|_| true), OpenRead::Suffix);
        assert_eq!(open_read(Some(1000), true, &|_| true), OpenRead::Range(0..1000));
    }

    /// Store options key on what is given and on the environment's settings as they were read
    /// (in any order), and hand each store the settings of its own prefix.
    #[test]
    fn store_options_key_on_the_environment_read() {
        let given = vec![("aws_region".to_string(), "eu-west-1".to_string())];
        let env =
            |pairs: &[(&'static str, &str, &str)]| pairs.iter().map(|&(p, k, v)| (p, k.to_string(), v.to_string())).collect::<Vec<_>>();
        let a = StoreOptions::with_env(given.clone(), env(&[("AWS_", "aws_endpoint_url", "http://a"), ("AZURE_", "azure_x", "1")]));
        let b = StoreOptions::with_env(given.clone(), env(&[("AZURE_", "azure_x", "1"), ("AWS_", "aws_endpoint_url", "http://a")]));
        let c = StoreOptions::with_env(given.clone(), env(&[("AWS_", "aws_endpoint_url", "http://b"), ("AZURE_", "azure_x", "1")]));
        let d = StoreOptions::with_env(Vec::new(), env(&[("AWS_", "aws_endpoint_url", "http://a"), ("AZURE_", "azure_x", "1")]));
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert_ne!(a.key, d.key);
        assert_eq!(a.env("AWS_").collect::<Vec<_>>(), [("aws_endpoint_url", "http://a")]);
        assert_eq!(a.env("GOOGLE_").count(), 0);
        assert_eq!(a.given(), &given[..]);
    }
}
