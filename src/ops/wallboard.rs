//! The live wallboard at `/wallboard`: one page, its script and its style,
//! compiled into the binary (no build step; the page loads nothing from
//! elsewhere). The page holds no data and is served without a token; its
//! script reads the API and the event stream with the token a supervisor
//! gives it, so the API's roles decide what it may see and do.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub const INDEX_HTML: &str = include_str!("wallboard/index.html");
pub const BOARD_JS: &str = include_str!("wallboard/board.js");
pub const BOARD_CSS: &str = include_str!("wallboard/board.css");

/// Only our own script, style and API; no framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The wallboard's routes (no token needed).
pub fn router() -> Router {
    Router::new()
        .route(
            "/wallboard",
            get(|| serve("text/html; charset=utf-8", INDEX_HTML)),
        )
        .route(
            "/wallboard/",
            get(|| serve("text/html; charset=utf-8", INDEX_HTML)),
        )
        .route(
            "/wallboard/board.js",
            get(|| serve("text/javascript; charset=utf-8", BOARD_JS)),
        )
        .route(
            "/wallboard/board.css",
            get(|| serve("text/css; charset=utf-8", BOARD_CSS)),
        )
}

async fn serve(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // A new binary brings a new board: never a stale script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_script_and_style() {
        assert!(INDEX_HTML.contains(r#"src="/wallboard/board.js""#));
        assert!(INDEX_HTML.contains(r#"href="/wallboard/board.css""#));
        for text in [INDEX_HTML, BOARD_JS, BOARD_CSS] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("@import"));
        }
    }
}
