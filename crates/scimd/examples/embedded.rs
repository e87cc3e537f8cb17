//! A product that embeds scimd instead of running it beside itself: scimd's
//! router is mounted in the product's own axum app, and the product hears
//! of every committed change as it happens, from a stream of events (the
//! same events the feed and webhooks carry).
//!
//!     cargo run -p scimd --example embedded
//!
//! then point an identity provider (or curl) at http://127.0.0.1:8090/scim/v2/acme
//! with the token it prints. Events that arrive while the product is busy
//! are not lost: past 4,096 behind, the stream says how many it skipped and
//! the product reads them from the feed (`Service::events_page`).

use axum::routing::get;
use scimd::events::Event;
use scimd::service::Service;
use std::net::SocketAddr;
use tokio::sync::broadcast::error::RecvError;

#[tokio::main]
async fn main() -> Result<(), String> {
    let (svc, mut tasks) = scimd::cli::open_default("sqlite://embedded.db").await?;
    // The webhook sender and event pruning, which `scimd serve` would run.
    tasks.extend(scimd::server::event_tasks(&svc));
    if svc.tenant_by_name("acme").await.map_err(|e| e.to_string())?.is_none() {
        svc.create_tenant("acme").await.map_err(|e| e.to_string())?;
        let token = scimd::cli::create_token(&svc, "acme", "okta", None).await?;
        println!("tenant 'acme' created; its SCIM token (shown once): {token}");
    }

    let mut events = svc.subscribe_events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => apply(&event),
                // Fell behind: the feed has what the stream dropped.
                Err(RecvError::Lagged(skipped)) => eprintln!("{skipped} events skipped: read them from the feed"),
                Err(RecvError::Closed) => break,
            }
        }
    });

    let scim = scimd::http::app(scimd::http::AppState::new(svc.clone(), scimd::http::Config::default()));
    let app = axum::Router::new().route("/", get(|| async { "the product's own pages" })).merge(scim);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await.map_err(|e| e.to_string())?;
    println!("listening on http://127.0.0.1:8090 (SCIM at /scim/v2/acme)");
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    drain(&svc).await;
    tasks.stop().await;
    served.map_err(|e| e.to_string())
}

/// What the product does with a change: here, say it.
fn apply(event: &Event) {
    match event.event_type.as_str() {
        "user.deactivated" | "user.deleted" => println!("end the sessions of {}", event.subject_id),
        "access.role_granted" | "access.role_revoked" => println!("{}: {}", event.event_type, event.data),
        other => println!("{other} {} {}", event.subject_type, event.subject_id),
    }
}

/// Writes still queued are committed before the store stops.
async fn drain(svc: &Service) {
    if let Err(e) = svc.drain().await {
        eprintln!("queued writes could not be finished: {e}");
    }
}
