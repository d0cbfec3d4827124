//! Serving the router: [`serve`] with header and body timeouts, a cap on connections and
//! a graceful shutdown; [`bind`] and [`StartError`] for startup failures a person can
//! read.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body::Frame;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The server's limits. The defaults suit a facade behind a load balancer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use mutegate::http::ServerConfig;
///
/// let config = ServerConfig::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(512);
/// assert_eq!(config.max_connections, 512);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// How long a client has to send a request's headers, from the first byte of the
    /// request (or from connecting): past it the connection is closed (default 10 s).
    pub header_read_timeout: Duration,
    /// How long the body may pause between two pieces: past it the request fails with
    /// the vendor's "could not read the body" answer and the connection is closed
    /// (default 10 s).
    pub body_read_timeout: Duration,
    /// How long one request may take in all, body and answer included: past it the
    /// answer is a 408 in the vendor's envelope (default 30 s).
    pub request_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog until one
    /// closes (default 1,024).
    pub max_connections: usize,
    /// How long a shutdown waits for requests in flight before closing their
    /// connections anyway (default 30 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ServerConfig {
    /// Sets [`header_read_timeout`](ServerConfig::header_read_timeout).
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`body_read_timeout`](ServerConfig::body_read_timeout).
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`request_timeout`](ServerConfig::request_timeout).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`max_connections`](ServerConfig::max_connections) (at least 1).
    #[must_use]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets [`shutdown_grace`](ServerConfig::shutdown_grace).
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// Why the server could not start, in words a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Another process listens on the port.
    #[error("port {port} is in use")]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// Binding the address failed otherwise.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        message: String,
    },
    /// The engine's store could not be opened.
    #[error("cannot open store at {dir}: {reason}")]
    Store {
        /// The store's directory.
        dir: String,
        /// Why, shortened for a person (the lock, the damaged file...).
        reason: String,
        /// The engine's error.
        #[source]
        error: crate::Error,
    },
}

impl StartError {
    /// A store that would not open, at `dir`.
    #[must_use]
    pub fn store(dir: &std::path::Path, error: crate::Error) -> StartError {
        let reason = match &error {
            crate::Error::Locked { .. } => "another engine holds its lock".to_owned(),
            other => other.to_string(),
        };
        StartError::Store {
            dir: dir.display().to_string(),
            reason,
            error,
        }
    }
}

/// Listens on `addr`.
///
/// # Errors
///
/// [`StartError::PortInUse`], or [`StartError::Bind`] with the system's reason.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            StartError::PortInUse { port: addr.port() }
        } else {
            StartError::Bind {
                addr,
                message: e.to_string(),
            }
        }
    })
}

/// Resolves when the process gets SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown` resolves, then stops
/// accepting, lets requests in flight finish (up to
/// [`shutdown_grace`](ServerConfig::shutdown_grace)) and returns.
///
/// Beyond `axum::serve`: clients that send headers or bodies too slowly are cut off
/// (see [`ServerConfig`]), at most `max_connections` are served at once, and a request
/// answered before its body was read (a refusal at admission: 401, 404, 429, NetEase's
/// 416) is answered with `Connection: close`, so a keep-alive client does not send its
/// next request into a connection the server is about to drop.
///
/// # Errors
///
/// Never, today: failures to accept one connection are skipped (after a short pause,
/// for "too many open files").
///
/// # Examples
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// use mutegate::http::{self, ServerConfig};
///
/// let listener = http::bind("127.0.0.1:8080".parse().unwrap()).await.expect("bind");
/// http::serve(listener, app, ServerConfig::default(), http::shutdown_signal()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let request_timeout = config.request_timeout;
    let app = app
        .layer(middleware::from_fn(move |req, next| {
            close_if_body_unread(req, next, request_timeout)
        }))
        .layer(RequestBodyTimeoutLayer::new(config.body_read_timeout));
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors, or a connection reset before it was accepted.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's own failure (a reset, a timeout) ends only that connection.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await;
    Ok(())
}

/// Marks the answer `Connection: close` when the request had a body that was not read
/// to its end, and answers 408 when the whole request takes too long.
async fn close_if_body_unread(req: Request, next: Next, timeout: Duration) -> Response {
    use http_body::Body as _;
    let has_body = !req.body().is_end_stream();
    let read = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let (method, uri) = (parts.method.clone(), parts.uri.clone());
    let body = Body::new(Watched {
        inner: body,
        read: Arc::clone(&read),
    });
    let mut response =
        match tokio::time::timeout(timeout, next.run(Request::from_parts(parts, body))).await {
            Ok(response) => response,
            Err(_) => super::route_error(&method, &uri, StatusCode::REQUEST_TIMEOUT),
        };
    if has_body && !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
