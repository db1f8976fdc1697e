//! The hot lane: Feast's lookups, writes and pushes are answered without
//! the router. They are most of a feature store's traffic, and the router's
//! layers (two middlewares, a route's boxed services, the extensions each
//! inserts) took a tenth of all the CPU of one-key lookups over 64
//! connections, client and kernel included (docs/benchmarks.md). The lane
//! goes through the same gate (token, limits) and the same counting and
//! access log as the router's routes, which stay mounted for every other
//! method and for the OpenAPI document. A layer added to the router does
//! not reach these three routes: add it here too.

use super::gate::Gate;
use super::{Tracker, read, write};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What each connection serves: the hot lane, then the router.
#[derive(Clone)]
pub(super) struct App {
    router: TowerToHyperService<Router>,
    hot: Arc<Hot>,
}

/// The hot routes' gates and what they share with the router's.
pub(super) struct Hot {
    /// Its runtime is the handlers' too.
    pub(super) tracker: Tracker,
    pub(super) reads: Gate,
    pub(super) writes: Gate,
}

#[derive(Clone, Copy)]
enum Route {
    Lookup,
    Write,
    Push,
}

impl Route {
    const ALL: [Route; 3] = [Route::Lookup, Route::Write, Route::Push];

    /// A POST to one of the hot routes, matched as the router would: the
    /// path exactly, without its query.
    fn of(method: &Method, path: &str) -> Option<Route> {
        let post = method == Method::POST;
        post.then(|| Route::ALL.into_iter().find(|r| r.label() == path))?
    }

    /// The route's pattern, as the router's metrics label it.
    fn label(self) -> &'static str {
        match self {
            Route::Lookup => "/get-online-features",
            Route::Write => "/write-to-online-store",
            Route::Push => "/push",
        }
    }
}

impl App {
    pub(super) fn new(router: Router, hot: Hot) -> App {
        App {
            router: TowerToHyperService::new(router),
            hot: Arc::new(hot),
        }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request<Incoming>> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        match Route::of(req.method(), req.uri().path()) {
            Some(route) => Box::pin(hot(self.hot.clone(), route, req)),
            None => Box::pin(self.router.call(req)),
        }
    }
}

/// A hot route's answer: counted, timed and gated as the router's are.
async fn hot(hot: Arc<Hot>, route: Route, req: Request<Incoming>) -> Result<Response, Infallible> {
    let (parts, body) = req.into_parts();
    let path = hot.tracker.access_log.then(|| parts.uri.path().to_string());
    let started = std::time::Instant::now();
    let gate = match route {
        Route::Lookup => &hot.reads,
        Route::Write | Route::Push => &hot.writes,
    };
    let resp = match gate.admit(&parts.headers) {
        Err(refused) => refused.into_response(),
        Ok(()) => {
            let (wafer, body) = (State(hot.tracker.wafer.clone()), Body::new(body));
            let (headers, uri) = (parts.headers, parts.uri);
            gate.run(async move {
                match route {
                    Route::Lookup => read::get_online_features(wafer, body).await.into_response(),
                    Route::Write => (write::write_to_online_store(wafer, headers, uri, body).await)
                        .into_response(),
                    Route::Push => write::push(wafer, headers, uri, body).await.into_response(),
                }
            })
            .await
        }
    };
    let label = (route.label(), "POST");
    hot.tracker.answered(label, path, started, &resp);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each path the lane takes is the one its handler documents, as a POST.
    #[test]
    fn the_lane_takes_the_paths_its_handlers_document() {
        use utoipa_axum::{router::OpenApiRouter, routes};
        let (_, doc) = OpenApiRouter::<crate::runtime::Wafer>::new()
            .routes(routes!(read::get_online_features))
            .routes(routes!(write::write_to_online_store))
            .routes(routes!(write::push))
            .split_for_parts();
        let posts: Vec<&str> = (doc.paths.paths.iter())
            .filter(|(_, item)| item.post.is_some())
            .map(|(path, _)| path.as_str())
            .collect();
        for route in Route::ALL {
            assert!(
                posts.contains(&route.label()),
                "{} in {posts:?}",
                route.label()
            );
            assert!(Route::of(&Method::POST, route.label()).is_some());
        }
        assert_eq!(posts.len(), 3);
    }

    #[test]
    fn only_a_post_to_a_hot_path_takes_the_lane() {
        let uri = |u: &str| u.parse::<axum::http::Uri>().unwrap();
        let route = |m: Method, u: &str| Route::of(&m, uri(u).path()).map(Route::label);
        assert_eq!(
            route(Method::POST, "/get-online-features"),
            Some("/get-online-features")
        );
        assert_eq!(route(Method::POST, "/push?x=1"), Some("/push"));
        assert_eq!(
            route(Method::POST, "http://h/write-to-online-store"),
            Some("/write-to-online-store")
        );
        // The router answers these: 405, 404, the admin's own routes.
        for (m, u) in [
            (Method::GET, "/get-online-features"),
            (Method::POST, "/get-online-features/"),
            (Method::POST, "/Push"),
            (Method::POST, "/admin/publish"),
        ] {
            assert_eq!(route(m.clone(), u), None, "{m} {u}");
        }
    }
}
